"""`Grid`: sensors by cell of latitude and longitude, for the views' `near=` questions.

A view asked for the items near a place needs only the sensors in the box
around its circle (`api.kind_views.Box`); the grid hands over those
of the cells the box touches, so the cost follows what is near, not the city.
A box that reaches a pole or the antimeridian takes every sensor (then checked
one by one as without the grid).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Final

from api.kind_views import Box
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
        box = Box.around(place, radius_m)
        candidates: Iterable[Sensor]
        if abs(box.lat) + box.dlat >= 90 or abs(box.lon) + box.dlon >= 180:
            candidates = self._all
        else:
            lon_cells = range(_cell(box.lon - box.dlon), _cell(box.lon + box.dlon) + 1)
            candidates = (sensor
                          for lat_cell in range(_cell(box.lat - box.dlat),
                                                _cell(box.lat + box.dlat) + 1)
                          for lon_cell in lon_cells
                          for sensor in self._cells.get((lat_cell, lon_cell), ()))
        return [sensor for sensor in candidates if box.holds(sensor.lat, sensor.lon)]
