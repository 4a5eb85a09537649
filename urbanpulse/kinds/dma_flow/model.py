"""DMA inflow: demand on the daily curve plus a constant leakage, and the logger's night flow.

Inflow is the area's mean flow split into demand, `(1 - leak) x DEMAND(h)` (the
curve of the pressure kind: minimum at 02-04 h), and background leakage, a
constant 6-14 % of the mean (CJJ 92 grades leakage at 10 %/12 %), with a
multiplicative AR(1) wander of 3 %. The cumulative register integrates it.
The logger keeps the minimum inflow of 02:00-04:00 and, from the first reading
after 04:00, reports it as `night_flow_m3h` with every reading until the next
night's (a meter first heard mid-day reports the night before, as its logger
measured it: the demand curve's minimum without wander), and likewise
`night_flow_ratio`, the MNF over the mean inflow of the day before it (about
0.3 for a sound area; the first morning of a run, without a whole day behind
it, keeps the ratio of the night before).
A burst adds its flow as a step until repaired; a leak adds a flow that grows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.dma_flow import SPEC as DMA
from urbanpulse.kinds.incidents import Effect, Episode, magnitude
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Seconds,
    Sensor,
    ar1,
    attribute,
    hourly,
    window,
)
from urbanpulse.kinds.pressure.model import DEMAND, demand_at

LEAK_SHARE = (0.06, 0.14)
NIGHT = (2.0, 4.0)
"""Local hours of the minimum-night-flow window."""
MIN_MEAN_HOURS = 20.0
"""The ratio needs the mean of nearly a whole day: none on the first morning of a run."""
WANDER_RHO, WANDER_SIGMA = 0.9, 0.03
BURST_M3H = (60.0, 150.0)
"""A burst main's outflow at magnitude 1 (a DN150-200 main; assumption)."""
LEAK_START, LEAK_GROWTH_PER_DAY = 0.30, 0.10
"""A new leak's flow as a share of the mean flow at magnitude 1, and its daily growth."""
BOUNDS = Bounds(DMA, {"inflow_m3h": 2, "volume_m3": 1, "night_flow_m3h": 2,
                      "night_flow_ratio": 3})


class DmaModel:
    """DMA inflow meters: demand, leakage, the register and the daily night flow."""

    def __init__(self, sensors: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        n = len(sensors)
        self._rng = rng
        self._mean = np.array([float(attribute(s, "mean_flow_m3h")) for s in sensors])
        self._leak = rng.uniform(*LEAK_SHARE, size=n)
        self._dt_h = np.array([s.interval_s / 3600 for s in sensors])
        self._wander = rng.normal(0.0, WANDER_SIGMA, size=n)
        self._volume = rng.uniform(1e4, 1e6, size=n)
        self._night_min = np.full(n, np.inf)
        lowest = float(min(hourly(DEMAND, h) for h in np.arange(NIGHT[0], NIGHT[1], 0.25)))
        self._last_night = self._mean * ((1 - self._leak) * lowest + self._leak)
        daily = float(np.mean([hourly(DEMAND, h) for h in np.arange(0, 24, 0.25)]))
        self._last_ratio = self._last_night / (self._mean * ((1 - self._leak) * daily
                                                             + self._leak))
        self._sum = np.zeros(n)
        self._count = np.zeros(n)
        self.knobs: dict[str, FloatArray] = {
            "burst_m3h": np.zeros(n), "leak_since": np.full(n, np.nan),
            "leak_share": np.zeros(n)}

    def extra(self, t: Seconds, idx: IndexArray) -> FloatArray:
        """Return the burst and leak flow of meters `idx`, each at its second of `t`, m³/h."""
        since = self.knobs["leak_since"][idx]
        days = np.where(np.isnan(since), 0.0, (t - since) / 86_400)
        leak = self.knobs["leak_share"][idx] * (1 + LEAK_GROWTH_PER_DAY / LEAK_START * days)
        result: FloatArray = self.knobs["burst_m3h"][idx] + leak * self._mean[idx]
        return result

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return the inflow, register and last night flow and ratio of meters `idx`, each at
        its second of `t`."""
        hour = window(t, len(idx)).hour
        mean, leak = self._mean[idx], self._leak[idx]
        demand = demand_at(hour) * np.exp(
            ar1(self._wander, idx, WANDER_RHO, WANDER_SIGMA, self._rng))
        inflow = mean * ((1 - leak) * demand + leak) + self.extra(t, idx)
        self._volume[idx] += inflow * self._dt_h[idx]
        self._sum[idx] += inflow
        self._count[idx] += 1
        night = (hour >= NIGHT[0]) & (hour < NIGHT[1])
        if night.any():
            at = idx[night]
            self._night_min[at] = np.minimum(self._night_min[at], inflow[night])
        due = (hour >= NIGHT[1]) & np.isfinite(self._night_min[idx])
        if due.any():
            at = idx[due]
            self._last_night[at] = self._night_min[at]
            whole_day = self._count[at] * self._dt_h[at] >= MIN_MEAN_HOURS
            self._last_ratio[at] = np.where(whole_day, self._night_min[at] / np.fmax(
                self._sum[at] / np.fmax(self._count[at], 1), 1e-9), self._last_ratio[at])
            self._night_min[at] = np.inf
            self._sum[at] = 0.0
            self._count[at] = 0.0
        return BOUNDS({"inflow_m3h": inflow, "volume_m3": self._volume[idx],
                       "night_flow_m3h": self._last_night[idx],
                       "night_flow_ratio": self._last_ratio[idx]})


def burst_flow(episode: Episode) -> float:
    """Return the outflow of the burst at the episode's meter, m³/h."""
    low, high = BURST_M3H
    return magnitude(episode) * (low + (high - low) * ((episode.local * 0.618034) % 1.0))


def _burst(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    knobs["burst_m3h"][episode.local] = burst_flow(episode) if starting else 0.0


def _leak(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    knobs["leak_since"][episode.local] = episode.start if starting else np.nan
    knobs["leak_share"][episode.local] = LEAK_START * magnitude(episode) if starting else 0.0


MODEL = DmaModel
INCIDENTS: Mapping[str, Effect] = {"main-burst-inflow": Effect(knobs=_burst),
                                   "leak": Effect(knobs=_leak)}
