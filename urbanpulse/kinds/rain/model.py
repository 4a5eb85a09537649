"""Rain gauges: the weather's hourly rain spread over 5-minute slots, gauge by gauge.

The weather gives one rain rate per hour for the whole city. A gauge's hour is
that rate times its own lognormal factor for the hour (σ 0.35, 0.5 in
convective hours of 20 mm/h or more: cells are a few km across, so gauges a
few km apart differ; at most 2), spread over the hour's twelve 5-minute slots by weights
`-ln U` (a flat Dirichlet: a 40 mm/h hour holds 5 minutes well above it). Both
draws hash the gauge's seed with the hour, so a slot's rain is a function of
the gauge and the time alone. The bucket tips at 0.1 mm; a slot holds at most
20 mm (240 mm/h).

The logger keeps the last 288 slots (24 h) and reports their rolling sums
(`rain_1h` … `rain_24h`: the last 12, 36, 72, 144 and 288 slots), so the
totals are always the sums of the 5-minute series (kept as running sums: add
the new slot, drop the one leaving each window). On its first reading, or after
a silence, it fills the missed slots from the same function and sums afresh.
`intensity_mm_h` is the 5-minute rain × 12. `battery_v` is a solar-charged
12 V battery: 12.4-12.8 V at night, up to 1 V more in sun.

Incidents add rain to the slots inside their window, through knobs:
`cloudburst` 60 + 30 × magnitude mm/h (at most 120) for the first 45 minutes,
`typhoon-rain` bands every 3 h between 25 mm/h and 30 + 15 × magnitude mm/h (at
most 60) for the whole incident. Each gauge gets 90-100 % of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import Effect, Episode, magnitude
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Seconds,
    Sensor,
    window,
)
from urbanpulse.kinds.rain import SPEC

SLOT_S = 300
SLOTS_PER_HOUR = 12
HISTORY = 288
"""Slots the logger keeps: 24 hours."""
WINDOWS = {"rain_1h": 12, "rain_3h": 36, "rain_6h": 72, "rain_12h": 144, "rain_24h": 288}
LENGTHS = np.array(list(WINDOWS.values()))
BUCKET_MM = 0.1
MAX_FACTOR, MAX_SLOT_MM = 2.0, 20.0
"""A gauge gets at most 2 × the city's hour, and at most 20 mm in 5 minutes (240 mm/h)."""
SIGMA, CONVECTIVE_SIGMA, CONVECTIVE_MM_H = 0.35, 0.5, 20.0
BURST_S = 2_700
"""A cloudburst's core lasts 45 minutes."""
BAND_PERIOD_S, BAND_FLOOR_MM_H = 10_800, 25.0
BOUNDS = Bounds(SPEC, {"rain_5min": 1, "intensity_mm_h": 1, "battery_v": 2,
                       **dict.fromkeys(WINDOWS, 1)})
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: np.ndarray) -> np.ndarray:
    """Return splitmix64 of uint64 array `x` (wrapping arithmetic)."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
    return x ^ (x >> np.uint64(31))


def uniforms(keys: np.ndarray, hour: int, count: int) -> FloatArray:
    """Return `count` uniforms in (0, 1) per key for `hour`: shape (len(keys), count)."""
    base = _mix(keys ^ np.uint64(hour & 0xFFFFFFFF) * np.uint64(0x100000001B3))
    draws = _mix(base[:, None] + np.arange(count, dtype=np.uint64)[None, :])
    return ((draws >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


class RainModel:
    """Each gauge's 5-minute rain, its last 24 hours, and the sums its logger reports."""

    def __init__(self, sensors: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        n = len(sensors)
        self._rng, self._drivers = rng, drivers
        with np.errstate(over="ignore"):
            self._keys = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64)
        self._history = np.zeros((n, HISTORY))
        self._last = np.full(n, -1, dtype=np.int64)
        self._sums = np.zeros((n, len(WINDOWS)))
        self._share = rng.uniform(0.9, 1.0, size=n)
        self._battery = rng.uniform(12.4, 12.8, size=n)
        self.knobs: dict[str, FloatArray] = {
            name: np.full(n, np.nan) for name in
            ("burst_from", "burst_to", "burst_mm_h", "band_from", "band_to", "band_mm_h")}

    def slot_rain(self, slot: int, idx: IndexArray) -> FloatArray:
        """Return the rain, mm, of gauges `idx` in 5-minute slot `slot` (epoch s / 300)."""
        result: FloatArray = self.hour_rain(slot // SLOTS_PER_HOUR, idx,
                                            np.array([slot % SLOTS_PER_HOUR]))[:, 0]
        return result

    def hour_rain(self, hour: int, idx: IndexArray, within: IndexArray) -> FloatArray:
        """Return the rain, mm, of gauges `idx` in slots `within` (0-11) of hour `hour`.

        One draw of the hour's weights and factor serves all its slots: shape
        (len(idx), len(within)), each value that of `slot_rain` for its slot.
        """
        t = (hour * SLOTS_PER_HOUR + within) * SLOT_S
        rate = self._drivers.weather.at(hour * 3600).rain_mm_h
        rain = np.zeros((len(idx), len(within)))
        if rate > 0:
            u = uniforms(self._keys[idx], hour, SLOTS_PER_HOUR + 1)
            weights = -np.log(u[:, :SLOTS_PER_HOUR])
            share = weights[:, within] / weights.sum(axis=1)[:, None]
            sigma = CONVECTIVE_SIGMA if rate >= CONVECTIVE_MM_H else SIGMA
            z = _normal(u[:, SLOTS_PER_HOUR])
            factor = np.minimum(np.exp(sigma * z - sigma * sigma / 2), MAX_FACTOR)
            rain = rate * factor[:, None] * share
        rain = np.minimum(rain + self._incidents(t[None, :], idx[:, None]), MAX_SLOT_MM)
        result: FloatArray = np.floor(rain / BUCKET_MM + 0.5) * BUCKET_MM
        return result

    def _incidents(self, t: IndexArray, idx: IndexArray) -> FloatArray:
        """Return the incidents' rain, mm per slot, of gauges `idx` (a column) at `t` (a row)."""
        k = self.knobs
        burst = (t >= k["burst_from"][idx]) & (t < k["burst_to"][idx])
        extra = np.where(burst, k["burst_mm_h"][idx], 0.0)
        band = (t >= k["band_from"][idx]) & (t < k["band_to"][idx])
        if band.any():
            phase = (t - k["band_from"][idx]) / BAND_PERIOD_S
            core = (1 + np.cos(2 * math.pi * phase)) / 2
            rate = BAND_FLOOR_MM_H + (k["band_mm_h"][idx] - BAND_FLOOR_MM_H) * core
            extra = extra + np.where(band, rate, 0.0)
        result: FloatArray = extra * self._share[idx] / SLOTS_PER_HOUR
        return result

    def _advance(self, slot: int, idx: IndexArray) -> None:
        """Log slot `slot` for gauges `idx`, filling any slots they missed, and sum."""
        steady = idx[self._last[idx] == slot - 1]
        behind = idx[self._last[idx] != slot - 1]
        if steady.size:
            new = self.slot_rain(slot, steady)
            leaving = self._history[steady[:, None], (slot - LENGTHS[None, :]) % HISTORY]
            self._sums[steady] = np.round(self._sums[steady] + new[:, None] - leaving, 1)
            self._history[steady, slot % HISTORY] = new
        if behind.size:
            first = int(max(self._last[behind].min() + 1, slot - HISTORY + 1))
            last = self._last[behind][:, None]
            for hour in range(first // SLOTS_PER_HOUR, slot // SLOTS_PER_HOUR + 1):
                slots = np.arange(max(first, hour * SLOTS_PER_HOUR),
                                  min(slot + 1, (hour + 1) * SLOTS_PER_HOUR))
                missed = last < slots[None, :]  # slots a gauge logged already stay as they are
                rain = self.hour_rain(hour, behind, slots % SLOTS_PER_HOUR)
                rows, columns = np.nonzero(missed)
                self._history[behind[rows], slots[columns] % HISTORY] = rain[rows, columns]
            order = (slot - np.arange(HISTORY)) % HISTORY
            self._sums[behind] = np.round(
                np.cumsum(self._history[behind][:, order], axis=1)[:, LENGTHS - 1], 1)
        self._last[idx] = slot

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return the 5-minute rain and rolling sums of gauges `idx`, each at its second of `t`.

        The logger's history advances slot by slot: the gauges are logged in groups
        by their 5-minute slot, the earliest first, each group as a call at that slot.
        """
        w = window(t, len(idx))
        slots = w.t // SLOT_S
        for slot in np.unique(slots).tolist():
            due = idx[slots == slot]
            fresh = due[self._last[due] != slot]
            if fresh.size:
                self._advance(slot, fresh)
        sums = self._sums[idx]
        now = self._history[idx, slots % HISTORY]
        sun = self._drivers.weather.at(w.first).sun
        values = {name: sums[:, i] for i, name in enumerate(WINDOWS)}
        values.update(rain_5min=now, intensity_mm_h=now * SLOTS_PER_HOUR,
                      battery_v=self._battery[idx] + 0.9 * sun
                      + self._rng.normal(0.0, 0.02, size=len(idx)))
        return BOUNDS(values)


def _normal(u: FloatArray) -> FloatArray:
    """Return standard normals from uniforms (a logistic fit to the probit, error < 0.01)."""
    result: FloatArray = np.log(u / (1 - u)) / 1.702
    return result


def _window(episode: Episode, knobs: dict[str, FloatArray], prefix: str, length: float,
            rate: float) -> None:
    end = math.inf if episode.end is None else episode.end
    knobs[f"{prefix}_from"][episode.local] = episode.start
    knobs[f"{prefix}_to"][episode.local] = min(end, episode.start + length)
    knobs[f"{prefix}_mm_h"][episode.local] = rate


def _cloudburst(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    """Rain 60-120 mm/h over the gauge for the incident's first 45 minutes."""
    if starting:
        _window(episode, knobs, "burst", BURST_S, min(120.0, 60 + 30 * magnitude(episode)))


def _typhoon(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    """Rain bands of 20-60 mm/h over the gauge while the incident lasts."""
    if starting:
        _window(episode, knobs, "band", math.inf, min(60.0, 30 + 15 * magnitude(episode)))
    else:
        knobs["band_to"][episode.local] = np.nan


MODEL = RainModel
INCIDENTS: Mapping[str, Effect] = {"cloudburst": Effect(knobs=_cloudburst),
                                   "typhoon-rain": Effect(knobs=_typhoon)}
