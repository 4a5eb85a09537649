"""`Grid`: sensors sorted by latitude, for the views' `near=` questions.

A view asked for the items near a place needs only the sensors within its
radius. The grid holds one list's sensors (say, one kind's lots) sorted by
latitude, with their coordinates in arrays: the band of latitudes the place's
box spans is found by bisection, and the distances of the band's sensors are
worked out at once (numpy), so a question costs the band, not the city, and
no Python loop over the sensors far away. A box that reaches a pole or the
antimeridian takes every sensor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from api.kind_views import EARTH_RADIUS_M, Box
from api.models import Sensor
from urbanpulse.kinds.summaries import DECIMALS


class Grid:
    """The sensors of one list (say, one kind's births), by latitude."""

    def __init__(self, sensors: Sequence[Sensor]) -> None:
        self._sensors = sorted(sensors, key=lambda sensor: sensor.lat)
        self._lat = np.array([sensor.lat for sensor in self._sensors], dtype=np.float64)
        self._phi = np.radians(self._lat)
        self._cos_phi = np.cos(self._phi)
        self._lam = np.radians([sensor.lon for sensor in self._sensors])

    def _band(self, box: Box) -> slice:
        """Return the slice of the sensors whose latitude lies in the box's."""
        if abs(box.lat) + box.dlat >= 90 or abs(box.lon) + box.dlon >= 180:
            return slice(0, len(self._sensors))
        return slice(int(np.searchsorted(self._lat, box.lat - box.dlat, side="left")),
                     int(np.searchsorted(self._lat, box.lat + box.dlat, side="right")))

    def within(self, place: tuple[float, float], radius_m: float
               ) -> list[tuple[float, Sensor]]:
        """Return the sensors within `radius_m` of `place`, each with its great-circle
        (haversine) distance in metres to `DECIMALS` places, as `distance_m` gives it."""
        band = self._band(Box.around(place, radius_m))
        phi1, lam1 = math.radians(place[0]), math.radians(place[1])
        h = (np.sin((self._phi[band] - phi1) / 2) ** 2
             + math.cos(phi1) * self._cos_phi[band] * np.sin((self._lam[band] - lam1) / 2) ** 2)
        metres = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
        first, found = band.start, []
        for index in np.flatnonzero(metres <= radius_m + 0.001).tolist():
            distance = round(float(metres[index]), DECIMALS)  # as `derived` rounds
            if distance <= radius_m:
                found.append((distance, self._sensors[first + index]))
        return found
