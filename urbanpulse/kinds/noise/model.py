"""Environmental noise monitors by GB 3096-2008 acoustic zone, day and night.

Each zone has a typical daytime and night-time LAeq a little under its limits
(roadside 4a sites run at about 68/58 dB(A), above their night limit of 55, as
measured roadside levels do); an hourly activity curve moves the level between
the two, rest days are 1 dB and holidays 2 dB quieter by day, rain over
2 mm/h adds 2 dB (rain noise; HJ 906 flags such data), and each site has its
own offset plus AR(1) noise (σ about 2 dB). The statistical levels follow from LAeq: LA90
(background) 3-8 dB under it, LA10 1.5-4 dB over it, LAmax 8-20 dB over it.

Once a day, in its first reading after local midnight, a monitor also reports
`calibration_db`: what it read of its calibration signal, 94.0 dB at 1 kHz (the
self-check automatic stations run, an electrostatic actuator or a built-in
calibrator). A healthy monitor reads 94.0; a bias of its microphone shifts the
check as it shifts the levels, so `noise-calibration-failed` sees it at the
next midnight.

A sensor mounted on a smart pole shares the pole's supply: while the pole is
cut off (`carrier-outage`, from the pole's `power-cut`) it sends nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import (
    CARRIER_OUTAGE,
    Effect,
    Episode,
    Values,
    cut_supply,
    magnitude,
    without_supply,
)
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Seconds,
    Sensor,
    ar1,
    hourly_value,
    local_time,
    window,
)
from urbanpulse.kinds.noise import SPEC as NOISE

TYPICAL = {"0": (46, 37), "1": (52, 42), "2": (57, 47), "3": (61, 52), "4a": (68, 58),
           "4b": (66, 57)}
"""Typical measured LAeq in dB(A) per zone (day 06-22 h, night 22-06 h).

The GB 3096 limits are 50/40 (0), 55/45 (1), 60/50 (2), 65/55 (3), 70/55 (4a), 70/60 (4b).
"""

ACTIVITY = (.25, .10, .05, 0, .05, .20, .50, .85, 1, 1, .95, .95,
            .95, .95, .95, .95, 1, 1, 1, .95, .90, .80, .60, .40)
"""Share of the day-night difference present in each hour."""

WEEKEND_DAY_DB = -1.0
NOISE_RHO, NOISE_SIGMA = 0.8, 2.0
CALIBRATION_DB = 94.0
"""The level of the calibration signal (a class 1 sound calibrator's, GB/T 15173)."""
BOUNDS = Bounds(NOISE, dict.fromkeys(("laeq", "lamax", "la10", "la90", "calibration_db"), 1))
SPREAD_LOW = np.array([[8.0], [1.5], [-8.0]])
SPREAD_HIGH = np.array([[20.0], [4.0], [-3.0]])
"""Bounds of LAmax, LA10 and LA90 relative to LAeq, dB."""


class NoiseModel:
    """Noise monitors reporting LAeq, LAmax, LA10 and LA90 over each interval."""

    def __init__(self, specs: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        unknown = sorted({spec.zone for spec in specs} - set(TYPICAL))
        if unknown:
            raise ValueError(f"Unknown GB 3096 noise zone {unknown[0]!r}; "
                             f"known are {', '.join(TYPICAL)}.")
        n = len(specs)
        typical = np.array([TYPICAL[spec.zone] for spec in specs], dtype=np.float64).reshape(n, 2)
        self._rng, self._drivers = rng, drivers
        self.knobs: dict[str, FloatArray] = {"unpowered": np.zeros(n)}
        self._day, self._night = typical[:, 0], typical[:, 1]
        self._offset = rng.normal(0.0, 1.5, size=n)
        self._walk = rng.normal(0.0, NOISE_SIGMA, size=n)
        self._step = np.array([spec.step_s for spec in specs])

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return the A-weighted levels of monitors `idx` over the intervals ending at `t`, and
        in a day's first reading the self-check's `calibration_db`."""
        w = window(t, len(idx))
        activity = hourly_value(ACTIVITY, w.hour)
        day, night = self._day[idx], self._night[idx]
        calendar_day = self._drivers.calendar.at(w.first)
        rest = 0.0 if calendar_day.is_workday else WEEKEND_DAY_DB * activity
        rest = rest * 2.0 if calendar_day.is_holiday else rest
        rain = 2.0 if self._drivers.weather.at(w.first).rain_mm_h > 2.0 else 0.0
        laeq = (night + (day - night) * activity + rest + rain + self._offset[idx]
                + ar1(self._walk, idx, NOISE_RHO, NOISE_SIGMA, self._rng))
        spread = self._rng.uniform(SPREAD_LOW, SPREAD_HIGH, size=(3, len(idx)))
        checking = w.first_of_day(self._step[idx])
        return without_supply(BOUNDS({"laeq": laeq, "lamax": laeq + spread[0],
                                      "la10": laeq + spread[1], "la90": laeq + spread[2],
                                      "calibration_db": np.where(checking, CALIBRATION_DB,
                                                                 np.nan)}),
                              self.knobs["unpowered"][idx])


def _construction(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    hour = local_time(t).hour
    if 6 <= hour < 22:
        return
    for name, add in (("laeq", 15.0), ("lamax", 20.0), ("la10", 15.0), ("la90", 8.0)):
        if name in values:
            values[name] += add * magnitude(episode)


MODEL = NoiseModel
INCIDENTS: Mapping[str, Effect] = {
    "night-construction": Effect(values=_construction),
    CARRIER_OUTAGE: Effect(knobs=cut_supply),
}
