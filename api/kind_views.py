"""The lists kinds declare as views (`VIEWS` in a kind's `summary.py`), answered.

A view says which births it lists, which fields it reads and how a current
reading becomes an item; the api does the rest the same way for every view:
the births of the kind in the district born by `at`, their current readings,
distances from a place, the radius, the order and the limit. With a place,
items within the radius come nearest first (then by sensor id, `list_near`);
without one, in the view's own ranking (`list_ranked`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from api.models import Sensor
from urbanpulse.influxql import Queries
from urbanpulse.kinds import KINDS, part
from urbanpulse.kinds.summaries import View, current_readings, derived
from urbanpulse.topics import check_name

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), for great-circle distances."""


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle (haversine) distance between two points, in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class Box:
    """The box around a place that holds its radius circle, in degrees either way.

    A few comparisons that spare the haversine (and the current reading) of the
    sensors far away; near the poles the box spans every longitude (`dlon` infinite).
    """

    lat: float
    lon: float
    dlat: float
    dlon: float

    @classmethod
    def around(cls, place: tuple[float, float], radius_m: float) -> Box:
        """Return the box around `place` that holds its `radius_m` circle."""
        dlat = math.degrees(radius_m / EARTH_RADIUS_M)
        cos_lat = math.cos(math.radians(place[0])) - math.radians(dlat)  # cos is 1-Lipschitz
        return cls(place[0], place[1], dlat, dlat / cos_lat if cos_lat > 0 else math.inf)

    def holds(self, lat: float, lon: float) -> bool:
        """Tell whether (lat, lon) lies in the box."""
        return abs(lat - self.lat) <= self.dlat and \
            abs((lon - self.lon + 180) % 360 - 180) <= self.dlon


def is_within_box(place: tuple[float, float], radius_m: float, lat: float, lon: float) -> bool:
    """Tell whether (lat, lon) lies in the box around `place` that holds its radius_m circle."""
    return Box.around(place, radius_m).holds(lat, lon)


def views() -> dict[tuple[str, str], View[Any]]:
    """Return every view the registered kinds declare, by (kind, view name).

    Raises:
        TypeError: A kind's `VIEWS` holds something other than a View.
        TopicError: A view's name is not a name of the topic grammar (it is a path segment).
    """
    found = {}
    for kind in KINDS:
        declared = getattr(part(kind, "summary"), "VIEWS", {})
        for name, view in declared.items():
            check_name(name, what=f"view name of kind {kind!r}")
            if not isinstance(view, View):
                raise TypeError(f"The view {name!r} of kind {kind!r} is a "
                                f"{type(view).__name__}, not a View.")
            found[kind, name] = view
    return found


@dataclass(frozen=True, slots=True)
class Listed:
    """The items of a view that matched, in order, and how many there were."""

    items: list[BaseModel]
    total: int


def chosen(view: View[Any], births: Sequence[Sensor]) -> list[Sensor]:
    """Return the births `view` lists (the latest state keeps these lists made)."""
    return [sensor for sensor in births if view.lists(sensor)]


async def list_ranked(queries: Queries, kind: str, view: View[Any], births: Sequence[Sensor],
                      *, limit: int, at_ms: int) -> Listed:
    """Return the first `limit` items of `view` over `births` (of `kind`, those the view
    lists) in the view's ranking, and their total.

    The current readings come from `queries`: held in memory when they are
    `LatestReadings` (`api.live.HeldQueries`), else read from InfluxDB.
    """
    readings = await current_readings(queries, kind, births, view.fields, at_ms=at_ms)
    ranked = [(view.ranking(item), item) for current in readings
              if (item := view.to_item(current, None)) is not None]
    ranked.sort(key=lambda pair: pair[0])
    return Listed(items=[item for _, item in ranked[:limit]], total=len(ranked))


async def list_near(queries: Queries, kind: str, view: View[Any],
                    placed: Sequence[tuple[float, Sensor]], *, limit: int, at_ms: int
                    ) -> Listed:
    """Return the first `limit` items of `view` over `placed` nearest first (then by sensor
    id), and their total.

    `placed` are the births the view lists within the radius, each with its distance
    in metres (`distances`, or the latest state's `within`); only their readings
    are read. A view that `keeps` says which make items, so only the first `limit`
    are built.
    """
    nearest = sorted(placed, key=lambda entry: (entry[0], entry[1].sensor))
    distance = {sensor.sensor: metres for metres, sensor in nearest}
    readings = await current_readings(queries, kind, [sensor for _, sensor in nearest],
                                      view.fields, at_ms=at_ms)  # in the births' order
    items: list[BaseModel] = []
    total = 0
    for current in readings:
        if len(items) >= limit and view.keeps is not None:
            total += view.keeps(current)
            continue
        item = view.to_item(current, distance[current.sensor.sensor])
        if item is not None:
            total += 1
            if len(items) < limit:
                items.append(item)
    return Listed(items=items, total=total)


def distances(place: tuple[float, float], births: Sequence[Sensor], radius_m: float
              ) -> list[tuple[float, Sensor]]:
    """Return each of `births` within `radius_m` of `place` with its distance, metres."""
    box = Box.around(place, radius_m)
    return [(metres, sensor) for sensor in births if box.holds(sensor.lat, sensor.lon)
            and (metres := derived(distance_m(place[0], place[1], sensor.lat, sensor.lon)))
            <= radius_m]
