"""Utility-tunnel compartments: temperature, oxygen, methane, H2S and the sump.

The tunnel lies a few metres down: its air follows the season's mean (the
city's climate) with a tenth of the outdoor swing, plus 2-6 °C of cable heat in
power and combined compartments (1-2 °C elsewhere). Ventilation keeps O2 at
20.9 % ± 0.1, methane at 0-1 % LEL (gas compartments up to 2) and H2S at
0-0.5 mg/m³. The sump fills with seepage (0.5-2 cm an hour, twice that after
rain over 24 h of 20 mm) and its pump empties it from 60 cm to 15 cm.

Incidents: `tunnel-gas` ramps CH4 up to 30 % LEL × magnitude; `tunnel-flooding`
adds up to 150 cm × magnitude to the sump; `ventilation-failure` warms the air
by up to 12 °C, takes up to 1.5 % of O2 and lets H2S build to 8 mg/m³ (each ×
magnitude). All ramp over a quarter of the incident, hold and ramp back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import Effect, Episode, Values, magnitude, ramp
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Seconds,
    Sensor,
    ar1,
    window,
)
from urbanpulse.kinds.tunnel import SPEC as TUNNEL

HEATED = frozenset({"power", "combined"})
OUTDOOR_SHARE = 0.1
O2_PCT, O2_SIGMA = 20.9, 0.1
SEEPAGE_CM_H = (0.5, 2.0)
WET_DAY_MM = 20.0
PUMP_ON_CM, PUMP_OFF_CM = 60.0, 15.0
GAS_LEL, FLOOD_CM = 30.0, 150.0
VENT_C, VENT_O2, VENT_H2S = 12.0, 1.5, 8.0
BOUNDS = Bounds(TUNNEL, {"temperature": 1, "o2_pct": 1, "ch4_lel": 1, "h2s_mgm3": 1,
                         "sump_water_cm": 0})


class TunnelModel:
    """Compartment monitors reporting every interval."""

    def __init__(self, specs: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        n = len(specs)
        self._rng, self._drivers = rng, drivers
        heated = np.array([spec.attributes.get("compartment") in HEATED for spec in specs])
        gas = np.array([spec.attributes.get("compartment") == "gas" for spec in specs])
        self._heat = np.where(heated, rng.uniform(2.0, 6.0, size=n), rng.uniform(1.0, 2.0, size=n))
        self._ch4 = np.where(gas, rng.uniform(0.0, 2.0, size=n), rng.uniform(0.0, 1.0, size=n))
        self._h2s = rng.uniform(0.0, 0.5, size=n)
        self._seepage = rng.uniform(*SEEPAGE_CM_H, size=n) / 3600
        self._sump = rng.uniform(PUMP_OFF_CM, PUMP_ON_CM, size=n)
        self._interval = np.array([float(spec.interval_s) for spec in specs])
        self._walk = rng.normal(0.0, 0.3, size=n)
        self.knobs: dict[str, FloatArray] = {}

    def sump(self, t: Seconds, idx: IndexArray) -> FloatArray:
        """Advance and return the sump levels of monitors `idx` over one interval, cm."""
        rain = self._drivers.weather.at(window(t, len(idx)).first).rain_24h_mm
        wet = 2.0 if rain > WET_DAY_MM else 1.0
        level = self._sump[idx] + self._seepage[idx] * wet * self._interval[idx]
        level = np.where(level >= PUMP_ON_CM, PUMP_OFF_CM, level)
        self._sump[idx] = level
        result: FloatArray = level
        return result

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return the environment of compartments `idx`, each at its second of `t`."""
        n = len(idx)
        weather = self._drivers.weather.at(window(t, n).first)
        climate = self._drivers.climate
        noise = self._rng.normal(size=(4, n))
        air = (climate.mean_c + OUTDOOR_SHARE * (weather.temperature - climate.mean_c)
               + self._heat[idx] + ar1(self._walk, idx, 0.98, 0.3, self._rng))
        return BOUNDS({
            "temperature": air + 0.1 * noise[0],
            "o2_pct": O2_PCT + O2_SIGMA * noise[1],
            "ch4_lel": np.maximum(self._ch4[idx] + 0.3 * noise[2], 0.0),
            "h2s_mgm3": np.maximum(self._h2s[idx] + 0.1 * noise[3], 0.0),
            "sump_water_cm": self.sump(t, idx),
        })


def _strength(episode: Episode, t: int) -> float:
    return magnitude(episode) * ramp(episode, t) if episode.end is not None else 0.0


def _gas(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    if "ch4_lel" in values:
        values["ch4_lel"] = min(100.0, round(values["ch4_lel"]
                                             + GAS_LEL * _strength(episode, t), 1))


def _flooding(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    if "sump_water_cm" in values:
        values["sump_water_cm"] = min(300.0, values["sump_water_cm"]
                                      + round(FLOOD_CM * _strength(episode, t)))


def _ventilation(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    strength = _strength(episode, t)
    for name, change, low, high in (("temperature", VENT_C, -20.0, 80.0),
                                    ("o2_pct", -VENT_O2, 0.0, 30.0),
                                    ("h2s_mgm3", VENT_H2S, 0.0, 200.0)):
        if name in values:
            values[name] = min(high, max(low, round(values[name] + change * strength, 1)))


MODEL = TunnelModel
INCIDENTS: Mapping[str, Effect] = {"tunnel-gas": Effect(values=_gas),
                                   "tunnel-flooding": Effect(values=_flooding),
                                   "ventilation-failure": Effect(values=_ventilation)}
