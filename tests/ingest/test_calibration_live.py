"""Calibration through a real `urbanpulse ingest`, mosquitto and InfluxDB, and rebuilt from it.

A reference and a low-cost station of one district report every ten minutes
for a day and a half of history, the low-cost one twice the reference. The
points InfluxDB stores carry the corrected PM and the AQI of it: by the
kind's default response at first, by the district's own fit once the window
holds enough pairs. A new calibration seeded from the hourly rollups the
ingester wrote then has the same fit, as a restarted ingester would.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.calibration import HOUR
from ingest.derive import Derivation
from ingest.history import History
from ops import stack
from tests.conftest import influx_rows, publish_all
from tests.ingest.processes import Closer, IngestProcess, Message, ingest_env, wait_for
from urbanpulse.kinds.air.calibration import CALIBRATION
from urbanpulse.messages import VERSION, SensorBirth, encoder
from urbanpulse.standards.air import realtime_aqi
from urbanpulse.topics import Channel, reading_topic, sensor_topic

pytestmark = pytest.mark.services

DISTRICT = "huangpu"
REFERENCE, LOW_COST = "air-huangpu-0001", "air-huangpu-0002"
RATIO = 2.0
"""How many times the reference's PM the low-cost station reads (dry air: no growth)."""


@pytest.fixture
def closing() -> Iterator[Closer]:
    """Register processes and clients to close (kill) at teardown, last first."""
    closer = Closer()
    yield closer
    closer.close_all()


def _hours_to_fit() -> int:
    """Return the hourly pairs (one a paired hour) whose forgotten weight reaches min_pairs."""
    weight, hours = 0.0, 0
    while weight < CALIBRATION.min_pairs:
        weight = weight * CALIBRATION.forget + 1.0
        hours += 1
    return hours


def _level(hour: int) -> float:
    return 20.0 + 6.0 * (hour % 7)


def _births(now_ms: int) -> list[SensorBirth]:
    return [SensorBirth(v=VERSION, sensor=sensor, kind="air", district=DISTRICT, site="bund",
                        lat=31.24, lon=121.49, zone="urban", interval_s=600, ts=now_ms,
                        attributes={"grade": grade, "siting": "urban"})
            for sensor, grade in ((REFERENCE, "reference"), (LOW_COST, "low-cost"))]


def _reading(root: str, sensor: str, ts: int, seq: int, pm25: float) -> Message:
    body = {"v": 1, "sensor": sensor, "kind": "air", "district": DISTRICT, "ts": ts, "seq": seq,
            "values": {"pm25": pm25, "pm10": 1.5 * pm25, "no2": 20.0,
                       "relative_humidity": 50.0}}
    return reading_topic(DISTRICT, "air", sensor, root=root), json.dumps(body).encode()


def _stored(url: str, db: str, sensor: str, order: str) -> dict[str, float]:
    (row,) = influx_rows(url, db, 'SELECT "pm25", "pm10", "pm25_cal", "pm10_cal", "aqi" FROM '
                         f"\"air\" WHERE \"sensor\" = '{sensor}' ORDER BY time {order} LIMIT 1")
    return row


async def test_ingest_stores_calibrated_pm_and_its_aqi_and_a_restart_rebuilds_the_fit(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path, closing: Closer) -> None:
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=influx_db,
                     root=topic_root, ingest_rollup_interval_s=0.2,
                     ingest_rollup_hour_interval_s=0.2)
    closing(IngestProcess(env, tmp_path, mosquitto.port)).start()
    now_ms = int(time.time() * 1000)
    publish_all(mosquitto.port, [
        (sensor_topic(Channel.SENSORS, DISTRICT, "air", birth.sensor, root=topic_root),
         encoder.encode(birth)) for birth in _births(now_ms)], retain=True)
    wait_for(lambda: len(influx_rows(influxd.url, influx_db, 'SELECT "lat" FROM "sensors"'))
             == 2, 30, "the births in InfluxDB")
    hours = _hours_to_fit() + 3
    first = (now_ms // HOUR - hours - 1) * HOUR
    history = [_reading(topic_root, sensor, first + hour * HOUR + slot * 600_000 + phase,
                        hour * 6 + slot, ratio * _level(hour))
               for hour in range(hours) for slot in range(6)
               for sensor, ratio, phase in ((REFERENCE, 1.0, 10_000), (LOW_COST, RATIO, 290_000))]
    last = now_ms - 60_000
    publish_all(mosquitto.port, [*history, _reading(topic_root, LOW_COST, last, 999, 100.0)])
    wait_for(lambda: bool(influx_rows(influxd.url, influx_db, 'SELECT "pm25" FROM "air" WHERE '
                                      f'time = {last}ms')), 60, "the last reading in InfluxDB")

    reference = _stored(influxd.url, influx_db, REFERENCE, "DESC")
    assert (reference["pm25_cal"], reference["pm10_cal"]) == (reference["pm25"],
                                                              reference["pm10"])
    early = _stored(influxd.url, influx_db, LOW_COST, "ASC")  # the default response
    assert early["pm25_cal"] == round(RATIO * _level(0) / CALIBRATION.default.gain, 1)
    late = _stored(influxd.url, influx_db, LOW_COST, "DESC")  # the district's own fit
    assert (late["pm25"], late["pm25_cal"], late["pm10_cal"]) == (100.0, 100.0 / RATIO,
                                                                  150.0 / RATIO)
    assert late["aqi"] == realtime_aqi({"pm25": 50.0, "pm10": 75.0, "no2": 20.0})[0]
    assert late["aqi"] != realtime_aqi({"pm25": 100.0, "pm10": 150.0, "no2": 20.0})[0]

    # A restarted ingester's calibration, seeded from the hourly rollups this one wrote.
    wait_for(lambda: len(influx_rows(influxd.url, influx_db, 'SELECT "count" FROM "air_1h" '
                                     f"WHERE \"sensor\" = '{LOW_COST}'")) >= hours, 30,
             "the hourly rollups")
    restarted = Derivation()
    for birth in _births(now_ms):
        restarted.register(birth)
    await restarted.seed(History(url=influxd.url, database=influx_db, headers={}, timeout_s=10,
                                 retry_max_s=1).read, [DISTRICT], now_ms)
    response = restarted.calibrations["air"].response(DISTRICT, "pm25")
    assert response is not None
    assert response.gain == pytest.approx(RATIO, rel=1e-6)
    assert math.isclose(response.growth, CALIBRATION.default.growth)  # dry air only

