"""A small seeded city for the view tests, written the way the ingester writes it.

Readings go through the ingester's own `derive` (AQI, water class, noise limit)
and `PointEncoder`; births through `birth_point`, alerts through `alert_point`.
Everything is placed around `AT`, a Monday 14:00 in Shanghai.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.derive import derive
from ingest.points import PointEncoder, alert_point, birth_point
from ingest.rollups import Rollups
from tests.api.conftest import write_lines
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Alert, Reading, SensorBirth
from urbanpulse.messages import AttributeValue as Attribute

AT = int(datetime(2025, 11, 24, 6, 0, tzinfo=UTC).timestamp() * 1000)
"""2025-11-24T14:00:00+08:00, a Monday: the time every view test asks about."""
AT_ISO = "2025-11-24T06:00:00Z"
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
MIDNIGHT = AT - 14 * HOUR
"""Local midnight starting AT's day (2025-11-23T16:00:00Z)."""
HERE = (31.2300, 121.5000)
"""A place in Pudong that the guidance tests search from."""


class CityWriter:
    """Collects births, readings and alerts as line protocol, then writes them at once,
    with the rollups the ingester would write of the readings."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._readings: list[Reading] = []
        self._derived: list[dict[str, FieldValue]] = []
        self._encoder = PointEncoder()
        self._zones: dict[str, str] = {}
        self._seq: dict[str, int] = {}

    def birth(self, sensor: str, kind: str, district: str, *, zone: str = "2",
              lat: float = 31.2, lon: float = 121.5, interval_s: int = 60,
              site: str = "site", **attributes: Attribute) -> None:
        """Add a birth, stamped a week before the earliest reading of the city."""
        self._zones[sensor] = zone
        self.lines.append(birth_point(SensorBirth(
            v=1, sensor=sensor, kind=kind, district=district, site=site, lat=lat, lon=lon,
            zone=zone, interval_s=interval_s, ts=AT - 40 * DAY, attributes=attributes)))

    def reading(self, sensor: str, kind: str, district: str, ts: int,
                **values: float) -> None:
        """Add a reading with the fields the ingester derives from it."""
        seq = self._seq[sensor] = self._seq.get(sensor, -1) + 1
        reading = Reading(v=1, sensor=sensor, kind=kind, district=district, ts=ts, seq=seq,
                          values=values)
        extra = derive(reading, self._zones.get(sensor))
        self.lines.append(self._encoder.reading(reading, extra))
        self._readings.append(reading)
        self._derived.append(dict(extra))

    def alert(self, alert_id: str, district: str, state: str, severity: str, ts: int) -> None:
        """Add one alert state change."""
        self.lines.append(alert_point(Alert(
            v=1, alert_id=alert_id, rule="rule-x", sensor=f"parking-{district}-0001",
            kind="parking", district=district, state=state,  # type: ignore[arg-type]
            severity=severity, ts=ts, since=ts, message="test"  # type: ignore[arg-type]
        )))

    def write(self, url: str, db: str) -> None:
        """Write everything to InfluxDB, the rollups of every bucket included."""
        rollups = Rollups(lateness_ms=0)  # one batch before any watermark: every bucket open
        rollups.written(self._readings, self._derived,
                        max((reading.ts for reading in self._readings), default=0))
        write_lines(url, db, self.lines + rollups.lines(hours=True))


def seed_city(url: str, db: str) -> None:
    """Write the test city: two districts of parking, air, water, energy, noise, alerts."""
    city = CityWriter()
    _parking(city)
    _air_and_water(city)
    _energy(city)
    _noise(city)
    _alerts(city)
    city.write(url, db)


def _parking(city: CityWriter) -> None:
    lots = [  # sensor, district, lat, lon, capacity, free, age of the newest count
        ("parking-pudong-0001", "pudong", 31.2310, 121.5000, 100, 50, 1 * MIN),   # green
        ("parking-pudong-0002", "pudong", 31.2400, 121.5000, 200, 20, 2 * MIN),   # yellow
        ("parking-pudong-0003", "pudong", 31.2300, 121.5050, 50, 1, 0),           # red
        ("parking-pudong-0004", "pudong", 31.2301, 121.5001, 80, 80, 10 * MIN),   # stale
        ("parking-huangpu-0001", "huangpu", 31.2350, 121.4950, 40, 0, 0),         # red, full
    ]
    for sensor, district, lat, lon, capacity, free, age in lots:
        city.birth(sensor, "parking", district, lat=lat, lon=lon, site=f"site-{sensor[-1]}",
                   device="lot", capacity=capacity, land_use="office")
        city.reading(sensor, "parking", district, AT - age, total_spot_number=capacity,
                     available_spot_number=free, occupancy=(capacity - free) / capacity)
    for sensor, occupied in (("parking-pudong-0101", 1.0), ("parking-pudong-0102", 0.0)):
        city.birth(sensor, "parking", "pudong", interval_s=86_400, device="bay",
                   land_use="office")
        city.reading(sensor, "parking", "pudong", AT - 2 * HOUR, occupied=occupied,
                     message_type=1.0)


def _air_and_water(city: CityWriter) -> None:
    for sensor, pm25, pm10 in (("air-pudong-0001", 40.0, 60.0), ("air-pudong-0002", 80.0, 100.0)):
        city.birth(sensor, "air", "pudong")
        city.reading(sensor, "air", "pudong", AT - 30 * MIN, pm25=1.0, pm10=1.0)  # older
        city.reading(sensor, "air", "pudong", AT - MIN, pm25=pm25, pm10=pm10)
    city.birth("air-huangpu-0001", "air", "huangpu")
    city.reading("air-huangpu-0001", "air", "huangpu", AT - MIN, pm25=500.0)
    stations = [  # sensor, target, values of the newest reading
        ("water-pudong-0001", 3, {"ph": 7.5, "dissolved_oxygen": 6.5, "codmn": 3.0,
                                  "nh3_n": 0.3, "tp": 0.05}),                      # class II
        ("water-pudong-0002", 3, {"ph": 7.5, "nh3_n": 1.8}),                       # class V
        ("water-pudong-0003", 2, None),                                             # silent
    ]
    for sensor, target, values in stations:
        city.birth(sensor, "water", "pudong", interval_s=600, class_target=target,
                   station="micro", site=f"river-{sensor[-1]}")
        if values is not None:
            city.reading(sensor, "water", "pudong", AT - 5 * MIN, **values)


def _energy(city: CityWriter) -> None:
    city.birth("energy-pudong-0001", "energy", "pudong", interval_s=900,
               building_type="office", floor_area_m2=20_000)
    city.birth("energy-pudong-0002", "energy", "pudong", interval_s=900,
               building_type="mall", floor_area_m2=30_000)
    # (days back, register just before that day's midnight, register at 14:00 that day)
    for days, at_midnight, at_cut in ((0, 1000.0, 1300.0), (7, 500.0, 740.0),
                                      (14, 200.0, 460.0), (3, 800.0, 2000.0)):
        city.reading("energy-pudong-0001", "energy", "pudong",
                     MIDNIGHT - days * DAY - 15 * MIN, total_active_energy_import=at_midnight)
        city.reading("energy-pudong-0001", "energy", "pudong", AT - days * DAY,
                     total_active_energy_import=at_cut)
    city.reading("energy-pudong-0002", "energy", "pudong", MIDNIGHT - 15 * MIN,
                 total_active_energy_import=5000.0)
    city.reading("energy-pudong-0002", "energy", "pudong", AT - 15 * MIN,
                 total_active_energy_import=5100.0)
    # After AT: must not count.
    city.reading("energy-pudong-0002", "energy", "pudong", AT + 15 * MIN,
                 total_active_energy_import=9000.0)


def _noise(city: CityWriter) -> None:
    city.birth("noise-pudong-0001", "noise", "pudong", zone="2", noise_zone="2")
    city.birth("noise-pudong-0002", "noise", "pudong", zone="2", noise_zone="2")
    day, night = MIDNIGHT + 6 * HOUR, MIDNIGHT - 2 * HOUR  # 06:00 and 22:00 local
    for sensor, ts, laeq in (
            ("noise-pudong-0001", day + HOUR, 65.0),          # day limit 60: exceeds
            ("noise-pudong-0001", day + 2 * HOUR, 55.0),
            ("noise-pudong-0002", day + 3 * HOUR, 58.0),
            ("noise-pudong-0001", night + HOUR, 52.0),        # night limit 50: exceeds
            ("noise-pudong-0001", night + 2 * HOUR, 45.0),
            ("noise-pudong-0002", night - HOUR, 70.0),        # the day before: not counted
            ("noise-pudong-0002", AT + MIN, 90.0)):           # after AT: not counted
        city.reading(sensor, "noise", "pudong", ts, laeq=laeq)


def _alerts(city: CityWriter) -> None:
    city.alert("a1", "pudong", "firing", "high", AT - HOUR)
    city.alert("a2", "pudong", "firing", "medium", AT - 3 * HOUR)
    city.alert("a2", "pudong", "acknowledged", "medium", AT - 2 * HOUR)
    city.alert("a3", "pudong", "firing", "high", AT - 3 * HOUR)
    city.alert("a3", "pudong", "resolved", "high", AT - 2 * HOUR)
    city.alert("a4", "pudong", "pending", "low", AT - 10 * DAY)
    city.alert("a5", "pudong", "firing", "critical", AT + MIN)   # after AT
    city.alert("a6", "huangpu", "firing", "critical", AT - HOUR)
