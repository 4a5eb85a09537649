"""Ponding: depth follows the rain above the site's drainage capacity, then drains away.

Rain beyond what the site's drainage carries (`capacity_mm_h`, 20-40 mm/h)
ponds: the depth it tends to is a gain times the excess, 1.2-1.8 cm per mm/h
at an underpass (the low point collects its ramps) and 0.5-0.8 at a low road.
Depth rises towards it with a time constant of 10 minutes and drains with one
of 25-40 minutes once the rain falls below capacity, so a ponding clears over
one to two hours. A dry gauge reads zero with a few millimetres of noise; the
clean depth (`measure`) is the water's, without the gauge's noise.

A `cloudburst-ponding` pours a storm cell over the site (a cloudburst, or a
typhoon's rain bands): 80 mm/h × magnitude on top of the weather's rain. A
`main-burst-flooding` is the water of a burst main running onto the road, taken
as the same inflow: the site's drainage carries its share, the rest ponds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import Effect, Episode, magnitude
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Measurement,
    Seconds,
    Sensor,
    known_attributes,
    window,
)
from urbanpulse.kinds.ponding import SPEC

GAIN_CM_PER_MM_H = {"underpass": (1.2, 1.8), "low-road": (0.5, 0.8)}
RISE_TAU_S = 600.0
DRAIN_TAU_S = (1500.0, 2400.0)
NOISE_CM = 0.3
BURST_MM_H = 80.0
"""Rain intensity a cloudburst adds at magnitude 1 (a Shanghai short-duration record is
well above 100 mm/h)."""
BOUNDS = Bounds(SPEC, {"depth_cm": 1})


class PondingModel:
    """Depth per gauge, integrated between its readings."""

    def __init__(self, sensors: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        sites = known_attributes(sensors, "site_type", GAIN_CM_PER_MM_H, "ponding site type")
        n = len(sensors)
        self._rng, self._drivers = rng, drivers
        self._capacity = np.array([float(s.attributes.get("capacity_mm_h", 30))
                                   for s in sensors])
        self._gain = np.array([rng.uniform(*GAIN_CM_PER_MM_H[site]) for site in sites])
        self._drain_tau = rng.uniform(*DRAIN_TAU_S, size=n)
        self._depth = np.zeros(n)
        self._last = np.full(n, np.nan)
        self.knobs: dict[str, FloatArray] = {"burst_mm_h": np.zeros(n)}

    def target(self, t: Seconds, idx: IndexArray) -> FloatArray:
        """Return the depth, cm, the rain of the hour of `t` drives gauges `idx` towards."""
        rain = (self._drivers.weather.at(window(t, len(idx)).first).rain_mm_h
                + self.knobs["burst_mm_h"][idx])
        result: FloatArray = self._gain[idx] * np.maximum(rain - self._capacity[idx], 0.0)
        return result

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return the water depth at gauges `idx`, each at its second of `t`."""
        return self.measure(t, idx).measured

    def measure(self, t: Seconds, idx: IndexArray) -> Measurement:
        """Return what gauges `idx` read at their seconds `t`, and the water really there."""
        seconds = window(t, len(idx)).t
        target = self.target(t, idx)
        depth = self._depth[idx]
        dt = np.nan_to_num(seconds - self._last[idx], nan=0.0)
        tau = np.where(target > depth, RISE_TAU_S, self._drain_tau[idx])
        depth = target + (depth - target) * np.exp(-dt / tau)
        self._depth[idx] = depth
        self._last[idx] = seconds
        noise = self._rng.normal(0.0, NOISE_CM, size=len(idx))
        read = np.where(depth > 0.5, depth + noise, np.abs(noise) * 0.3)
        return Measurement(BOUNDS({"depth_cm": read}), BOUNDS({"depth_cm": depth}))


def _burst(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    """Pour a storm cell (or a burst main's water) over the gauge's site while it lasts."""
    knobs["burst_mm_h"][episode.local] = BURST_MM_H * magnitude(episode) if starting else 0.0


MODEL = PondingModel
INCIDENTS: Mapping[str, Effect] = {"cloudburst-ponding": Effect(knobs=_burst),
                                   "main-burst-flooding": Effect(knobs=_burst)}
