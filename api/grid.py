"""`Grid`: sensors sorted by latitude, for the views' `near=` questions.

A view asked for the items near a place needs only the sensors within its
radius. The grid holds one list's sensors (say, one kind's lots) sorted by
latitude, with their coordinates in arrays: the band of latitudes the place's
box spans is found by bisection, and the distances of the band's sensors are
worked out at once (numpy), so a question costs the band, not the city, and
no Python loop over the sensors far away. A box that reaches a pole or the
antimeridian takes every sensor. The births' times are held the same way, so a
question about the sensors born by a time costs no more.

A view of the present asks more: which of those sensors have a current reading
it makes an item of, the first `limit` of them nearest first, and how many there
are. For that the grid also holds, per view, each sensor's newest reading time
and whether the view makes an item of that reading (`nearest`): made from the
latest state at the first question, then brought up to date at each question
for the sensors whose reading changed since (`changed`, which the latest state
calls as readings arrive). The question is then a few more array comparisons
and a sort of the matches; only the items returned are made in Python, so its
cost no longer grows with the lots within the radius one by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from api.kind_views import EARTH_RADIUS_M, Box
from api.models import Sensor
from urbanpulse.kinds.summaries import DECIMALS, PRESENT_AHEAD_MS, STALE_FACTOR

_SCALE = 10.0 ** DECIMALS
_NO_READING = np.iinfo(np.int64).max
"""The reading time of a sensor without one: after any `at`, so never current."""


def rounded(values: np.ndarray) -> np.ndarray:
    """Return `round(value, DECIMALS)` of each of `values` (as `derived` rounds), at once.

    `rint(value * 10**DECIMALS) / 10**DECIMALS` is the same number whenever the
    scaled value is not within a millionth of a half (the product's own rounding
    error is far smaller up to the largest radius); those few are rounded by
    `round` itself.
    """
    scaled = values * _SCALE
    result: np.ndarray = np.rint(scaled) / _SCALE
    for index in np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6).tolist():
        result[index] = round(float(values[index]), DECIMALS)
    return result


@dataclass(frozen=True, slots=True)
class _Readings:
    """Each sensor's newest reading time and whether a view makes an item of it, and
    the sensors (by position) whose reading changed since."""

    time: np.ndarray
    usable: np.ndarray
    changed: set[int]


class Grid:
    """The sensors of one list (say, one kind's births), by latitude."""

    def __init__(self, sensors: Sequence[Sensor]) -> None:
        self._sensors = sorted(sensors, key=lambda sensor: sensor.lat)
        self._lat = np.array([sensor.lat for sensor in self._sensors], dtype=np.float64)
        self._phi = np.radians(self._lat)
        self._cos_phi = np.cos(self._phi)
        self._lam = np.radians([sensor.lon for sensor in self._sensors])
        self._born = np.array([sensor.birth_ts for sensor in self._sensors], dtype=np.int64)
        self._stale_ms = np.array([STALE_FACTOR * sensor.interval_s * 1000
                                   for sensor in self._sensors], dtype=np.int64)
        by_id = sorted(range(len(self._sensors)), key=lambda index: self._sensors[index].sensor)
        self._rank = np.empty(len(self._sensors), dtype=np.int64)
        self._rank[by_id] = np.arange(len(self._sensors))
        self._position = {sensor.sensor: index for index, sensor in enumerate(self._sensors)}
        self._readings: dict[Hashable, _Readings] = {}

    def changed(self, sensor: str) -> None:
        """Note that the newest reading of `sensor` changed (nothing if it is not here)."""
        index = self._position.get(sensor)
        if index is not None:
            for held in self._readings.values():
                held.changed.add(index)

    def _band(self, box: Box) -> slice:
        """Return the slice of the sensors whose latitude lies in the box's."""
        if abs(box.lat) + box.dlat >= 90 or abs(box.lon) + box.dlon >= 180:
            return slice(0, len(self._sensors))
        return slice(int(np.searchsorted(self._lat, box.lat - box.dlat, side="left")),
                     int(np.searchsorted(self._lat, box.lat + box.dlat, side="right")))

    def _metres(self, place: tuple[float, float], radius_m: float
                ) -> tuple[slice, np.ndarray]:
        """Return the band of the place's box and the great-circle (haversine) distance
        of each of its sensors, metres, unrounded."""
        band = self._band(Box.around(place, radius_m))
        phi1, lam1 = math.radians(place[0]), math.radians(place[1])
        h = (np.sin((self._phi[band] - phi1) / 2) ** 2
             + math.cos(phi1) * self._cos_phi[band] * np.sin((self._lam[band] - lam1) / 2) ** 2)
        return band, 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))

    def within(self, place: tuple[float, float], radius_m: float, *,
               until_ms: int | None = None) -> list[tuple[float, Sensor]]:
        """Return the sensors within `radius_m` of `place` (born by `until_ms` when given),
        each with its great-circle (haversine) distance in metres to `DECIMALS` places, as
        `distance_m` gives it."""
        band, metres = self._metres(place, radius_m)
        near = metres <= radius_m + 0.001  # the rounding below decides the edge
        if until_ms is not None:
            near &= self._born[band] <= until_ms
        hits = np.flatnonzero(near)
        distances = rounded(metres[hits])
        first, sensors = band.start, self._sensors
        return [(distance, sensors[first + index])
                for distance, index in zip(distances.tolist(), hits.tolist(), strict=True)
                if distance <= radius_m]

    def nearest(self, place: tuple[float, float], radius_m: float, *, until_ms: int,
                at_ms: int, limit: int, readings: Readings
                ) -> tuple[list[tuple[float, Sensor]], int]:
        """Return the first `limit` sensors within `radius_m` of `place`, born by
        `until_ms`, whose newest reading is current at `at_ms` and usable, nearest first
        (then by sensor id), each with its distance as `within` gives it; and how many
        such sensors there are.

        Current is the summaries' rule (`_held_current`): not after `at_ms` by more
        than `PRESENT_AHEAD_MS`, not older than `STALE_FACTOR` of the sensor's
        intervals. `readings` says each sensor's newest reading and whether it is
        usable (`Readings`), held per `readings.key` and read again for the sensors
        `changed` names.
        """
        held = self._held(readings)
        band, metres = self._metres(place, radius_m)
        time = held.time[band]
        hits = np.flatnonzero((metres <= radius_m + 0.001) & held.usable[band]
                              & (self._born[band] <= until_ms)
                              & (time <= at_ms + PRESENT_AHEAD_MS)
                              & (at_ms - time <= self._stale_ms[band]))
        distances = rounded(metres[hits])
        inside = distances <= radius_m
        hits, distances = hits[inside], distances[inside]
        order = np.lexsort((self._rank[band][hits], distances))[:limit]
        first, sensors = band.start, self._sensors
        return ([(distance, sensors[first + index]) for distance, index
                 in zip(distances[order].tolist(), hits[order].tolist(), strict=True)],
                len(hits))

    def _held(self, readings: Readings) -> _Readings:
        held = self._readings.get(readings.key)
        if held is None:
            rows = [readings.newest(sensor.sensor) for sensor in self._sensors]
            held = self._readings[readings.key] = _Readings(
                np.array([_NO_READING if row is None else row["time"] for row in rows],
                         dtype=np.int64),
                np.array([row is not None and readings.usable(sensor, row)
                          for sensor, row in zip(self._sensors, rows, strict=True)],
                         dtype=np.bool_),
                set())
        for index in held.changed:
            sensor = self._sensors[index]
            row = readings.newest(sensor.sensor)
            held.time[index] = _NO_READING if row is None else row["time"]
            held.usable[index] = row is not None and readings.usable(sensor, row)
        held.changed.clear()
        return held


@dataclass(frozen=True, slots=True)
class Readings:
    """Where a grid finds its sensors' newest readings, and which it may use.

    Attributes:
        key: What the readings are held under (one per view).
        newest: The newest reading of a sensor (fields by name, `time` in epoch ms), or None.
        usable: Whether a sensor's newest reading is one the question may use.
    """

    key: Hashable
    newest: Callable[[str], Mapping[str, Any] | None]
    usable: Callable[[Sensor, Mapping[str, Any]], bool]
