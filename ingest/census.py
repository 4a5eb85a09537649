"""The sensors announced to an ingester, by district and kind, with where they stand.

Every metrics interval the ingester writes a `sensors_announced` point per
district and kind it has births of: `sensors` (how many), `lat` and `lon` (the
mean of their announced positions). The panels that count the city's sensors
or place its districts on a map read the last of these few points, where
reading the births themselves costs a series per sensor (at 22,150 sensors the
overview's count took 0.27 s and its map 0.88 s, docs/performance.md). A
district and kind counted once keeps its points, with zero sensors if its births
move elsewhere, so its last point is never a count that has gone.

An ingester counts the births of its partition: the retained ones it reads at
start and each one that arrives. Its districts are its own (alert state needs
one instance per sensor, DESIGN), so the instances' points add up.
"""

from __future__ import annotations

from typing import Final

from urbanpulse.lineprotocol import FieldValue, encode_point
from urbanpulse.messages import SensorBirth

MEASUREMENT: Final = "sensors_announced"


class Census:
    """Where each announced sensor stands: `add` each birth, write `points` every interval."""

    def __init__(self) -> None:
        self._sensors: dict[str, tuple[str, str, float, float]] = {}
        """District, kind, latitude and longitude of each sensor, from its newest birth."""
        self.intervals: dict[str, int] = {}
        """Each sensor's reporting interval, seconds, from its newest birth (`ingest.now`)."""
        self._counted: set[tuple[str, str]] = set()

    def add(self, birth: SensorBirth) -> None:
        """Count a birth (a sensor announced again replaces its earlier place)."""
        self._sensors[birth.sensor] = (birth.district, birth.kind, birth.lat, birth.lon)
        self.intervals[birth.sensor] = birth.interval_s
        self._counted.add((birth.district, birth.kind))

    def points(self, at_ms: int) -> list[str]:
        """Return a point per district and kind ever counted, with its sensors now."""
        sums: dict[tuple[str, str], list[float]] = {key: [0, 0.0, 0.0] for key in self._counted}
        for district, kind, lat, lon in self._sensors.values():
            total = sums[district, kind]
            total[0] += 1
            total[1] += lat
            total[2] += lon
        points = []
        for (district, kind), (sensors, lat, lon) in sorted(sums.items()):
            fields: dict[str, FieldValue] = {"sensors": int(sensors)}
            if sensors:
                fields |= {"lat": round(lat / sensors, 6), "lon": round(lon / sensors, 6)}
            points.append(encode_point(MEASUREMENT, {"district": district, "kind": kind},
                                       fields, at_ms))
        return points
