"""The api answers for the good sensors whatever hostile `sensors` points InfluxDB holds.

The points are written straight to InfluxDB, past the ingester's checks, the
way an older ingester or any client with write access could have stored them:
fields named like the tags, a string latitude, a point without the birth's
fields. Each route must answer as it did before they were written.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import pytest

from ingest.service import Ingester
from ops import stack
from tests.api.city import AT, AT_ISO, DAY, HERE, seed_city
from tests.api.conftest import write_lines
from tests.conftest import Recorder, influx_rows, publish_all, wait_until
from urbanpulse.messages import rejection_decoder

HOSTILE = [
    # Fields named like every tag, and like the names InfluxDB gives renamed columns.
    f'sensors,district=hostile,kind=parking,sensor=parking-hostile-0001 sensor="x",'
    f'district="pudong",kind="air",sensor_1="y",time_1=1i,lat=0.0,lon=0.0,site="s",'
    f'zone="2",interval_s=60i,device="lot",capacity=10i {AT - 40 * DAY}',
    # A string latitude, in a shard of its own (a week's shard holds one type a field).
    f'sensors,district=hostile,kind=parking,sensor=parking-hostile-0002 lat="north",'
    f'lon=0.0,site="s",zone="2",interval_s=60i {AT - 100 * DAY}',
    # None of the birth's fields.
    f"sensors,district=hostile,kind=parking,sensor=parking-hostile-0003 capacity=5i "
    f"{AT - 40 * DAY}",
]
HOSTILE_READINGS = [
    # Fields named like the readings' tags, in the measurements of the kinds.
    f'parking,district=hostile,sensor=parking-hostile-0001 sensor="x",district="pudong",'
    f"available_spot_number=3 {AT - 60_000}",
    f'air,district=hostile,sensor=air-hostile-0001 sensor="x",district="pudong",'
    f"pm25=3 {AT - 60_000}",
]
GOOD_ROUTES = [
    ("/v1/sensors", {"district": "pudong"}),
    ("/v1/sensors", {"kind": "parking", "district": "pudong"}),
    ("/v1/sensors/parking-pudong-0001", {}),
    ("/v1/sensors/water-pudong-0001", {}),
    ("/v1/sensors/air-pudong-0001/readings", {"start": "2025-11-24T05:00:00Z", "end": AT_ISO}),
    ("/v1/sensors/air-pudong-0001/readings", {"start": "2025-11-24T05:00:00Z", "end": AT_ISO,
                                              "every": "10m"}),
    ("/v1/districts/pudong/summary", {"at": AT_ISO}),
    ("/v1/districts/huangpu/summary", {"at": AT_ISO}),
    ("/v1/parking/guidance", {"at": AT_ISO, "near": f"{HERE[0]},{HERE[1]}",
                              "district": "pudong"}),
]


async def _answers(api: httpx.AsyncClient) -> list[tuple[int, Any]]:
    answers = []
    for path, params in GOOD_ROUTES:
        response = await api.get(path, params=params)
        answers.append((response.status_code, response.json()))
    return answers


@pytest.fixture
def city(influxd: stack.Server, influx_db: str) -> None:
    """The seeded test city."""
    seed_city(influxd.url, influx_db)


@pytest.mark.usefixtures("city")
async def test_good_sensors_answer_as_before_hostile_points(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    before = await _answers(api)
    assert all(status == 200 for status, _ in before), before
    for line in HOSTILE:  # one at a time: the string latitude needs a shard of its own
        write_lines(influxd.url, influx_db, [line])

    after = await _answers(api)

    assert after == before


@pytest.mark.usefixtures("city")
async def test_good_sensors_answer_as_before_hostile_readings(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    before = await _answers(api)
    write_lines(influxd.url, influx_db, HOSTILE_READINGS)

    after = await _answers(api)

    assert after == before


@pytest.mark.usefixtures("city")
async def test_hostile_points_are_listed_without_reserved_fields_or_left_out(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str,
        caplog: pytest.LogCaptureFixture) -> None:
    for line in HOSTILE:
        write_lines(influxd.url, influx_db, [line])

    with caplog.at_level(logging.WARNING, logger="api.store"):
        response = await api.get("/v1/sensors", params={"district": "hostile"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 3
    [listed] = body["items"]
    assert (listed["sensor"], listed["kind"], listed["district"]) == (
        "parking-hostile-0001", "parking", "hostile")
    assert listed["attributes"] == {"sensor_1": "y", "time_1": 1, "device": "lot",
                                    "capacity": 10}
    logged = caplog.text
    assert "parking-hostile-0002" in logged
    assert "parking-hostile-0003" in logged
    for sensor in ("parking-hostile-0002", "parking-hostile-0003"):
        assert (await api.get(f"/v1/sensors/{sensor}")).status_code == 404
    assert (await api.get("/v1/sensors/parking-hostile-0001")).status_code == 200


@pytest.mark.usefixtures("city")
async def test_district_list_counts_series_whatever_their_fields(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    for line in HOSTILE:
        write_lines(influxd.url, influx_db, [line])

    response = await api.get("/v1/districts")

    assert response.status_code == 200
    assert {"district": "hostile", "sensors": {"parking": 3}} in response.json()["items"]


def _birth(name: str, ts: int, **attributes: Any) -> bytes:
    return json.dumps({"v": 1, "sensor": name, "kind": "parking", "district": "pudong",
                       "site": "s", "lat": 31.2, "lon": 121.5, "zone": "2", "interval_s": 60,
                       "ts": ts, "attributes": attributes}).encode()


async def test_hostile_retained_births_are_dead_lettered_and_the_api_unharmed(
        ingester: Ingester, api: httpx.AsyncClient, mosquitto: stack.Server,
        influxd: stack.Server, influx_db: str, topic_root: str) -> None:
    now = int(time.time() * 1000)
    rejected = Recorder(mosquitto.port, f"{topic_root}/rejected/#")
    topic = f"{topic_root}/sensors/pudong/parking/parking-pudong-"
    hostile = [  # (sensor number, payload, expected reason)
        (1, _birth("parking-pudong-0001", now, sensor="x", district="huangpu"),
         "reserved-attribute"),
        (2, _birth("parking-pudong-0002", now, capacity=5, kind="air"), "reserved-attribute"),
        (3, _birth("parking-pudong-0003", now, _measurement="x"), "reserved-attribute"),
        (4, _birth("parking-pudong-0004", 4_102_444_800_000), "future-timestamp"),  # 2100
        (5, _birth("parking-pudong-0005", now - 40 * DAY), "stale-timestamp"),
    ]
    publish_all(mosquitto.port, [(f"{topic}{n:04d}", payload) for n, payload, _ in hostile],
                retain=True)
    good = [(f"{topic}{n:04d}", _birth(f"parking-pudong-{n:04d}", now, capacity=40))
            for n in (4, 9)]  # a correct birth after the one from 2100 is not shadowed
    publish_all(mosquitto.port, good, retain=True)

    await wait_until(lambda: len(rejected.messages) >= len(hostile)
                     and ingester.pipeline.stats.births >= len(good))
    await wait_until(lambda: len(influx_rows(influxd.url, influx_db,
                                             "SELECT * FROM sensors")) >= len(good))
    publish_all(mosquitto.port, [(t, b"") for t, _ in [*good, *(
        (f"{topic}{n:04d}", b"") for n, _, _ in hostile)]], retain=True)  # clear retained
    rejected.close()

    reasons = sorted((rejection_decoder.decode(payload).topic,
                      rejection_decoder.decode(payload).reason)
                     for _, payload in rejected.messages)
    assert reasons == sorted((f"{topic}{n:04d}", reason) for n, _, reason in hostile)
    response = await api.get("/v1/sensors")
    assert response.status_code == 200
    assert [(item["sensor"], item["attributes"]) for item in response.json()["items"]] == [
        ("parking-pudong-0004", {"capacity": 40}), ("parking-pudong-0009", {"capacity": 40})]

