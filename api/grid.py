"""`Grid`: sensors by cell of latitude and longitude, for the views' `near=` questions.

A view asked for the items near a place needs only the sensors in the box
around its circle (`api.kind_views.is_within_box`); the grid hands over those
of the cells the box touches, so the cost follows what is near, not the city.
A box that reaches a pole or the antimeridian takes every sensor (then checked
one by one as without the grid).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Final

from api.kind_views import EARTH_RADIUS_M, is_within_box
from api.models import Sensor

CELL_DEG: Final = 0.02
"""Side of a cell, degrees (about 2.2 km of latitude)."""


def _cell(degrees: float) -> int:
    return math.floor(degrees / CELL_DEG)


class Grid:
    """The sensors of one list (say, one kind's births), by cell."""

    def __init__(self, sensors: Sequence[Sensor]) -> None:
        self._all = sensors
        self._cells: dict[tuple[int, int], list[Sensor]] = {}
        for sensor in sensors:
            self._cells.setdefault((_cell(sensor.lat), _cell(sensor.lon)), []).append(sensor)

    def near(self, place: tuple[float, float], radius_m: float) -> list[Sensor]:
        """Return the sensors in the box around `place` that holds its `radius_m` circle."""
        lat, lon = place
        dlat = math.degrees(radius_m / EARTH_RADIUS_M)
        cos_lat = math.cos(math.radians(lat)) - math.radians(dlat)  # as is_within_box bounds it
        dlon = dlat / cos_lat if cos_lat > 0 else math.inf
        candidates: Iterable[Sensor]
        if abs(lat) + dlat >= 90 or abs(lon) + dlon >= 180:
            candidates = self._all
        else:
            lon_cells = range(_cell(lon - dlon), _cell(lon + dlon) + 1)
            candidates = (sensor for lat_cell in range(_cell(lat - dlat), _cell(lat + dlat) + 1)
                          for lon_cell in lon_cells
                          for sensor in self._cells.get((lat_cell, lon_cell), ()))
        return [sensor for sensor in candidates
                if is_within_box(place, radius_m, sensor.lat, sensor.lon)]
