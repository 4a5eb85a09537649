"""Building electricity meters with the four public-building sub-metering registers.

Each building's mean power is its floor area times a Shanghai electricity
intensity for its type (kWh/m²·a: government 72, office 105, hotel 135,
hospital 175, mall 190), shaped by an hourly load profile per type and day
(after the DOE/PNNL prototype schedules; malls keep Chinese opening hours every
day). The load splits into lighting and sockets, HVAC, power and special items
by type; HVAC follows the shared weather (cooling above 22 °C, heating below
12 °C) and the special item (data rooms, kitchens) is flatter. Swapped working
weekends run the weekday shape; Sundays and public holidays run the Sunday
shape, offices and government a further 15 % lower (holiday trough), malls
20 % higher. A scenario's `hvac_on` knob keeps HVAC at its working level. Registers count
in hundredths of a kWh as integers, so they never decrease and the total is
exactly the sum of the four sub-items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.energy import SPEC as ENERGY
from urbanpulse.kinds.incidents import Effect, Episode
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Seconds,
    Sensor,
    attribute,
    day_type,
    hourly,
    window,
)

INTENSITY = {"office": 105.0, "mall": 190.0, "hotel": 135.0, "hospital": 175.0,
             "government": 72.0}
"""Annual electricity intensity, kWh per m² and year."""

_OFFICE = [.31] * 6 + [.38, .38] + [.86] * 4 + [.76] + [.86] * 4 + [.48] + [.38] * 6
_SATURDAY = [.23] * 6 + [.38, .38] + [.48] * 4 + [.33] * 5 + [.29, .29] + [.23] * 5
_SUNDAY = [.23] * 6 + [.29] * 12 + [.23] * 6
_MALL = [.2] * 7 + [.3, .5, .75] + [.95] * 11 + [.8, .45, .25]
_HOTEL = [.3, .25, .2, .2, .2, .3, .5, .6, .5, .5] + [.35] * 8 + [.7, .9, .95, .9, .7, .4]
_HOSPITAL = [.6] * 7 + [.8, .95, 1, 1, 1, .95, .95, 1, 1, .95, .9, .8, .75, .7, .65, .62, .6]
_GOVERNMENT = [.25] * 6 + [.3, .45] + [.9] * 4 + [.6] + [.9] * 4 + [.4] + [.3] * 2 + [.25] * 4
SHAPES = {  # (weekday, Saturday, Sunday) fraction of peak load by hour
    "office": (_OFFICE, _SATURDAY, _SUNDAY),
    "mall": (_MALL, [1.1 * f for f in _MALL], [1.1 * f for f in _MALL]),
    "hotel": (_HOTEL, _HOTEL, _HOTEL),
    "hospital": (_HOSPITAL, [.85 * f for f in _HOSPITAL], [.8 * f for f in _HOSPITAL]),
    "government": (_GOVERNMENT, _SUNDAY, _SUNDAY),
}
ITEMS = ("lighting_socket_kwh", "hvac_kwh", "power_kwh", "special_kwh")
SHARES = {  # share of the annual load per sub-item, in ITEMS order
    "office": (0.32, 0.43, 0.15, 0.10),
    "mall": (0.35, 0.40, 0.15, 0.10),
    "hotel": (0.25, 0.40, 0.15, 0.20),
    "hospital": (0.25, 0.40, 0.12, 0.23),
    "government": (0.35, 0.40, 0.15, 0.10),
}
HOURS_PER_YEAR = 8766.0
BOUNDS = Bounds(ENERGY, {"total_active_energy_import": 2, "total_active_power": 2,
                         **dict.fromkeys(ITEMS, 2)})


HOLIDAY = {"office": 0.85, "mall": 1.2, "hotel": 1.05, "hospital": 1.0, "government": 0.85}
"""Public-holiday multiplier of the Sunday shape."""


def hvac_weather(temperature: float) -> float:
    """Return the HVAC load factor at outdoor `temperature` (about 1.7 at 32 °C, 0.45 at 17)."""
    return 0.45 + 0.9 * max(0.0, temperature - 22.0) / 8 + 0.5 * max(0.0, 12.0 - temperature) / 10


class EnergyModel:
    """Building meters reporting cumulative registers and mean power over the interval."""

    def __init__(self, specs: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        types = [str(attribute(spec, "building_type")) for spec in specs]
        unknown = sorted(set(types) - set(SHAPES))
        if unknown:
            raise ValueError(f"Unknown building type {unknown[0]!r}; "
                             f"known are {', '.join(SHAPES)}.")
        n = len(specs)
        area = np.array([float(attribute(spec, "floor_area_m2")) for spec in specs])
        self._rng, self._drivers = rng, drivers
        self._holiday = np.array([HOLIDAY[kind] for kind in types])
        self.knobs: dict[str, FloatArray] = {"hvac_on": np.zeros(n)}
        self._shapes = np.array([SHAPES[kind] for kind in types],
                                dtype=np.float64).reshape(n, 3, 24)
        weekly = (5 * self._shapes[:, 0].mean(axis=1) + self._shapes[:, 1].mean(axis=1)
                  + self._shapes[:, 2].mean(axis=1)) / 7
        mean_kw = np.array([INTENSITY[kind] for kind in types]) * area / HOURS_PER_YEAR
        self._peak_kw = mean_kw / weekly * rng.lognormal(0.0, 0.15, size=n)
        self._shares = np.array([SHARES[kind] for kind in types], dtype=np.float64).reshape(n, 4).T
        self._hours = np.array([spec.interval_s / 3600 for spec in specs])
        years = rng.uniform(0.5, 6.0, size=n)
        start_kwh = mean_kw * HOURS_PER_YEAR * years
        self._registers = np.round(self._shares * start_kwh * 100).astype(np.int64)

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Advance the registers of buildings `idx` by one interval and return them at `t`."""
        w = window(t, len(idx))
        calendar_day = self._drivers.calendar.at(w.first)
        day = day_type(calendar_day)
        shape = hourly(self._shapes[idx, day], w.hour)
        if calendar_day.is_holiday:
            shape = shape * self._holiday[idx]
        hvac_shape = np.maximum(shape, self.knobs["hvac_on"][idx] * hourly(
            self._shapes[idx, 0], 12.0))
        temperature = self._drivers.weather.at(w.first).temperature
        factors = np.stack([shape, hvac_shape * hvac_weather(temperature), shape,
                            0.6 + 0.4 * shape])
        noise = np.clip(self._rng.normal(1.0, 0.04, size=factors.shape), 0.5, 1.5)
        power_kw = self._peak_kw[idx] * self._shares[:, idx] * factors * noise
        increment = np.round(power_kw * self._hours[idx] * 100).astype(np.int64)
        self._registers[:, idx] += increment
        registers = self._registers[:, idx]
        values = {name: registers[k] / 100 for k, name in enumerate(ITEMS)}
        return BOUNDS({
            "total_active_energy_import": registers.sum(axis=0) / 100,
            "total_active_power": power_kw.sum(axis=0),
            **values,
        })


def _hvac(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    knobs["hvac_on"][episode.local] = 1.0 if starting else 0.0


MODEL = EnergyModel
INCIDENTS: Mapping[str, Effect] = {"hvac-holiday": Effect(knobs=_hvac)}
