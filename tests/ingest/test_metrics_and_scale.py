"""Self-metrics in the `pipeline` measurement, status topics, and two instances side by side."""

from __future__ import annotations

import asyncio
import json
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.census import Census
from ingest.metrics import active_points
from ingest.service import Ingester
from ops import stack
from tests.conftest import Recorder, influx_rows, publish_all, wait_until
from urbanpulse.messages import Alert, AlertState, SensorBirth, Severity
from urbanpulse.settings import IngestSettings


def _reading(root: str, district: str, n: int, now: int) -> tuple[str, bytes]:
    sensor = f"noise-{district}-{n % 10:04d}"
    return (f"{root}/readings/{district}/noise/{sensor}",
            json.dumps({"v": 1, "sensor": sensor, "kind": "noise", "district": district,
                        "ts": now - 1000 + n, "seq": n, "values": {"laeq": 50.0}}).encode())


async def test_pipeline_metrics_and_status_are_published(
        ingest_settings: IngestSettings, mosquitto: stack.Server, influxd: stack.Server,
        influx_db: str, topic_root: str) -> None:
    status = Recorder(mosquitto.port, f"{topic_root}/status/ingest/#")
    ingester = Ingester(ingest_settings.model_copy(update={"ingest_metrics_interval_s": 0.3}))
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))
    await asyncio.wait_for(ingester.subscribed.wait(), 10)
    now = int(time.time() * 1000)
    ignored = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"qos0-{topic_root}")
    ignored.connect("127.0.0.1", mosquitto.port)
    ignored.loop_start()
    ignored.publish(_reading(topic_root, "pudong", 99, now)[0], b"{}", qos=0).wait_for_publish(10)
    ignored.loop_stop()
    ignored.disconnect()
    publish_all(mosquitto.port, [_reading(topic_root, "pudong", n, now) for n in range(40)]
                + [(f"{topic_root}/readings/pudong/noise/noise-pudong-0001", b"{oops")])
    await wait_until(lambda: ingester.pipeline.stats.written == 40)
    query = 'SELECT * FROM "pipeline" WHERE "written" = 40 AND "rejected" = 1 AND "ignored" = 1'
    await wait_until(lambda: bool(influx_rows(influxd.url, influx_db, query)))
    row = influx_rows(influxd.url, influx_db, query)[0]
    assert row["instance"] == "main"
    assert (row["received"], row["rejected_malformed_json"], row["pending"]) == (41, 1, 0)
    assert row["lag_p99_ms"] >= row["lag_p50_ms"] >= 0
    started = influx_rows(influxd.url, influx_db, 'SELECT "started" FROM "pipeline"')
    assert [r["started"] for r in started if r["started"] is not None] == [True]
    stop.set()
    await asyncio.wait_for(task, 20)
    await wait_until(lambda: [p for _, p in status.messages][-1:] == [b"offline"])
    status.close()
    assert [payload for _, payload in status.messages] == [b"online", b"offline"]


async def test_two_instances_on_disjoint_districts_share_the_work(
        ingest_settings: IngestSettings, mosquitto: stack.Server, influxd: stack.Server,
        influx_db: str, topic_root: str) -> None:
    first = Ingester(ingest_settings.model_copy(update={
        "ingest_districts": ["pudong"], "ingest_instance": "east",
        "ingest_client_id": f"{topic_root}-east"}))
    second = Ingester(ingest_settings.model_copy(update={
        "ingest_districts": ["huangpu", "fengxian"], "ingest_instance": "west",
        "ingest_client_id": f"{topic_root}-west"}))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(ingester.run(stop)) for ingester in (first, second)]
    for ingester in (first, second):
        await asyncio.wait_for(ingester.subscribed.wait(), 10)
    now = int(time.time() * 1000)
    messages = [_reading(topic_root, district, n, now)
                for district in ("pudong", "huangpu", "fengxian") for n in range(100)]
    publish_all(mosquitto.port, messages)
    await wait_until(lambda: first.pipeline.stats.written + second.pipeline.stats.written
                     == len(messages))
    stop.set()
    await asyncio.gather(*(asyncio.wait_for(task, 20) for task in tasks))
    assert (first.pipeline.stats.received, second.pipeline.stats.received) == (100, 200)
    rows = influx_rows(influxd.url, influx_db, 'SELECT "seq" FROM "noise" GROUP BY "district"')
    landed = sorted((row["district"], row["seq"]) for row in rows)
    assert landed == sorted((d, n) for d in ("pudong", "huangpu", "fengxian") for n in range(100))


def _alert(sensor: str, state: AlertState, severity: Severity, district: str = "pudong"
           ) -> Alert:
    return Alert(v=1, alert_id=f"{abs(hash((sensor, state))) % 16**16:016x}",
                 rule="noise-over-limit", sensor=sensor, kind="noise", district=district,
                 state=state, severity=severity, ts=1, since=1, message="")


def test_active_alerts_are_counted_per_district_kind_and_severity_zeros_kept() -> None:
    counted: set[tuple[str, str, str]] = set()
    first = active_points([_alert("noise-pudong-0001", "firing", "high"),
                           _alert("noise-pudong-0002", "pending", "high"),
                           _alert("noise-pudong-0003", "acknowledged", "high"),
                           _alert("noise-huangpu-0001", "firing", "low", "huangpu")],
                          counted, 1_000)
    # The huangpu alert resolved: its combination is written again, with zeros.
    second = active_points([_alert("noise-pudong-0001", "firing", "high")], counted, 2_000)

    assert first == [
        "alerts_active,district=huangpu,kind=noise,severity=low "
        "pending=0i,firing=1i,acknowledged=0i,active=1i 1000",
        "alerts_active,district=pudong,kind=noise,severity=high "
        "pending=1i,firing=1i,acknowledged=1i,active=3i 1000"]
    assert second == [
        "alerts_active,district=huangpu,kind=noise,severity=low "
        "pending=0i,firing=0i,acknowledged=0i,active=0i 2000",
        "alerts_active,district=pudong,kind=noise,severity=high "
        "pending=0i,firing=1i,acknowledged=0i,active=1i 2000"]


def _birth(sensor: str, district: str, lat: float, lon: float) -> SensorBirth:
    return SensorBirth(v=1, sensor=sensor, kind="noise", district=district, site="s",
                       lat=lat, lon=lon, zone="residential", interval_s=60, ts=1)


def test_the_census_counts_births_by_district_and_kind_at_their_mean_position() -> None:
    census = Census()
    census.add(_birth("noise-pudong-0001", "pudong", 31.0, 121.5))
    census.add(_birth("noise-pudong-0002", "pudong", 31.2, 121.7))
    census.add(_birth("noise-huangpu-0001", "huangpu", 31.23, 121.48))
    assert census.points(1_000) == [
        "sensors_announced,district=huangpu,kind=noise sensors=1i,lat=31.23,lon=121.48 1000",
        "sensors_announced,district=pudong,kind=noise sensors=2i,lat=31.1,lon=121.6 1000"]
    # Announced again elsewhere: huangpu keeps its point, with no sensor and no position.
    census.add(_birth("noise-huangpu-0001", "pudong", 31.1, 121.6))
    assert census.points(2_000) == [
        "sensors_announced,district=huangpu,kind=noise sensors=0i 2000",
        "sensors_announced,district=pudong,kind=noise sensors=3i,lat=31.1,lon=121.6 2000"]
