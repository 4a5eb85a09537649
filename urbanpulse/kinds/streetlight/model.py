"""Street-light controllers: lamps lit from dusk to dawn, dimmed after midnight.

Each pole's photocell (or astronomical clock) lights its lamp 0-15 minutes
after sunset and puts it out 0-15 minutes before sunrise (Shanghai's sunrise
and sunset by date, `daylight.py`); the lamp burns at full output until local
midnight and at 50 % after. An LED driver draws 5 % of its rated power plus
95 % in proportion to its output, with a power factor of 0.97 at full output
falling to about 0.91 at half; an unlit controller draws 1.5 W at a power
factor of 0.45. Supply voltage is 220 V nominal: each pole's own offset
(σ 3 V) and a few volts lower while the evening load is high. The current is
P / (V · PF), so the reading's power is V · I · PF to rounding. Leakage current
is a few mA (more in rain), the door is shut and the pole stands within 1.5°
of vertical.

A `power-cut` leaves the controller without supply: the lamp is dark and the
controller sends nothing until the power is back. The sensors mounted on the
pole lose their supply with it (`SILENCES_MOUNTED`: the simulator gives each a
`carrier-outage` over the same window).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import (
    Effect,
    Episode,
    Values,
    cut_supply,
    magnitude,
    ramp,
    without_supply,
)
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Seconds,
    Sensor,
    Window,
    window,
)
from urbanpulse.kinds.streetlight import SPEC as STREETLIGHT
from urbanpulse.kinds.streetlight.daylight import sun_hours

SWITCH_DELAY_H = (0.0, 0.25)
"""The photocell lights the lamp this long after sunset, and puts it out as long before sunrise."""
DIMMED_PCT = 50.0
DIM_FROM_H = 0.0
"""Local hour from which lamps burn dimmed, until dawn."""
BASE_SHARE = 0.05
PF_FULL, PF_DIM_DROP, PF_STANDBY = 0.97, 0.12, 0.45
STANDBY_W = 1.5
NOMINAL_V, POLE_V_SIGMA, EVENING_SAG_V = 222.0, 3.0, 4.0
RAIN_LEAKAGE_MA = 2.0
LEAKAGE_RISE_MA = 60.0
"""Leakage added at the height of a cable-leakage incident of magnitude 1."""
KNOCK_DEG = 20.0
BOUNDS = Bounds(STREETLIGHT, {"voltage_v": 1, "current_a": 3, "power_w": 1, "power_factor": 3,
                              "dimming_pct": 0, "lamp_on": 0, "leakage_ma": 1, "door_open": 0,
                              "tilt_deg": 2})


class StreetlightModel:
    """Lamp controllers reporting supply, lamp state, leakage, door and tilt."""

    def __init__(self, sensors: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        n = len(sensors)
        self._rng, self._drivers = rng, drivers
        self._rated = np.array([float(s.attributes.get("rated_w", 120)) for s in sensors])
        self._on_delay = rng.uniform(*SWITCH_DELAY_H, size=n)
        self._off_early = rng.uniform(*SWITCH_DELAY_H, size=n)
        self._volts = NOMINAL_V + rng.normal(0.0, POLE_V_SIGMA, size=n)
        self._leakage = rng.uniform(0.5, 5.0, size=n)
        self._tilt = rng.uniform(0.1, 1.5, size=n)
        self.knobs: dict[str, FloatArray] = {"failed": np.full(n, np.nan),
                                             "stuck_on": np.full(n, np.nan),
                                             "unpowered": np.zeros(n)}

    def scheduled(self, t: Seconds, idx: IndexArray) -> FloatArray:
        """Return the output (%) the schedule sets for poles `idx`, each at its second of `t`:
        100, 50 or 0."""
        return self._schedule(window(t, len(idx)), idx)

    def _schedule(self, w: Window, idx: IndexArray) -> FloatArray:
        sunrise, sunset = sun_hours(w.local.day_of_year)
        hour = w.hour
        lit = (hour >= sunset + self._on_delay[idx]) | (hour < sunrise - self._off_early[idx])
        dimmed = np.where((hour >= DIM_FROM_H) & (hour < 12), DIMMED_PCT, 100.0)
        level: FloatArray = np.where(lit, dimmed, 0.0)
        return level

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return the controller readings of poles `idx`, each at its second of `t`."""
        w = window(t, len(idx))
        scheduled = self._schedule(w, idx)
        # A failed lamp is dark when it should burn; a stuck relay burns it when it should
        # not. Each acts on its own half of the day, so a pole with both (the contract
        # battery injects a kind's incidents together) shows each in its hours.
        stuck = ~np.isnan(self.knobs["stuck_on"][idx])
        level = np.where(stuck & (scheduled == 0), 100.0, scheduled)
        lit = np.where(scheduled > 0, np.isnan(self.knobs["failed"][idx]), stuck)
        n = len(idx)
        noise = self._rng.normal(size=(4, n))
        share = level / 100.0
        power = np.where(lit, self._rated[idx] * (BASE_SHARE + (1 - BASE_SHARE) * share)
                         * (1 + 0.01 * noise[0]), STANDBY_W)
        pf = np.where(lit, PF_FULL - PF_DIM_DROP * (1 - share) + 0.005 * noise[1], PF_STANDBY)
        sag = np.where((w.hour >= 18) & (w.hour < 23), EVENING_SAG_V, 0.0)
        volts = self._volts[idx] - sag + 0.8 * noise[2]
        volts = np.rint(volts * 10) / 10
        pf = np.rint(np.clip(pf, 0, 1) * 1000) / 1000
        current = power / (volts * pf)
        rain = self._drivers.weather.at(w.first).rain_mm_h
        leakage = np.clip(self._leakage[idx] + (RAIN_LEAKAGE_MA if rain > 0.5 else 0.0)
                          + 0.3 * noise[3], 0.0, None)
        return without_supply(BOUNDS({
            "voltage_v": volts, "current_a": current,
            "power_w": volts * np.rint(current * 1000) / 1000 * pf,
            "power_factor": pf, "dimming_pct": level, "lamp_on": lit.astype(np.float64),
            "leakage_ma": leakage, "door_open": np.zeros(n),
            "tilt_deg": self._tilt[idx] + 0.05 * np.abs(noise[0])}),
            self.knobs["unpowered"][idx])


def _knob(name: str) -> Effect:
    def effect(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
        knobs[name][episode.local] = 1.0 if starting else np.nan
    return Effect(knobs=effect)


def _leakage(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    if "leakage_ma" in values:
        rise = LEAKAGE_RISE_MA * magnitude(episode)
        values["leakage_ma"] += rise * (ramp(episode, t) if episode.end is not None else 1.0)


def _door(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    if "door_open" in values:
        values["door_open"] = 1.0


def _knocked(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    if "tilt_deg" in values:
        values["tilt_deg"] = min(90.0, values["tilt_deg"] + KNOCK_DEG * magnitude(episode))


MODEL = StreetlightModel
INCIDENTS: Mapping[str, Effect] = {
    "power-cut": Effect(knobs=cut_supply),
    "lamp-failure": _knob("failed"),
    "controller-stuck-on": _knob("stuck_on"),
    "cable-leakage": Effect(values=_leakage),
    "door-forced": Effect(values=_door),
    "pole-knocked": Effect(values=_knocked),
}
SILENCES_MOUNTED = frozenset({"power-cut"})
"""Incidents that cut the pole's supply, and with it every sensor mounted on the pole."""
