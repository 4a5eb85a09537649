"""At-least-once: a message is acknowledged only once InfluxDB has it."""

from __future__ import annotations

import asyncio
import json
import time

from ingest.service import Ingester
from ops import stack
from tests.conftest import influx_rows, publish_all, wait_until
from tests.faultproxy import FaultProxy
from urbanpulse.settings import IngestSettings


def _readings(root: str, count: int) -> list[tuple[str, bytes]]:
    now = int(time.time() * 1000)
    return [(f"{root}/readings/huangpu/noise/noise-huangpu-0001",
             json.dumps({"v": 1, "sensor": "noise-huangpu-0001", "kind": "noise",
                         "district": "huangpu", "ts": now - count + n, "seq": n,
                         "values": {"laeq": 50.0 + n % 10}}).encode()) for n in range(count)]


async def test_nothing_is_acknowledged_while_influxdb_is_unreachable(
        ingest_settings: IngestSettings, mosquitto: stack.Server, influxd: stack.Server,
        influx_db: str, topic_root: str) -> None:
    proxy = FaultProxy(influxd.url)
    await proxy.start()
    # The start-up check, the alert record read, the alert log's newest change (none yet), the
    # incident record read, the latest-state seed, the snapshot's running totals (an empty
    # database: no rollup reseed follows) and the derived fields' seed.
    proxy.plan.extend(["pass"] * 7)
    proxy.default = "reset"    # then InfluxDB is gone
    first = Ingester(ingest_settings.model_copy(update={
        "influx_url": proxy.url, "ingest_drain_timeout_s": 1.0, "ingest_retry_max_s": 0.2}))
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    await asyncio.wait_for(first.subscribed.wait(), 10)
    messages = _readings(topic_root, 300)
    publish_all(mosquitto.port, messages)
    await wait_until(lambda: first.pipeline.stats.received == 300)
    await wait_until(lambda: first.writer.stats.retries >= 3)
    stop.set()
    await asyncio.wait_for(task, 20)
    await proxy.close()
    assert first.pipeline.stats.written == 0

    # The same persistent session, now with InfluxDB reachable: the broker redelivers all.
    second = Ingester(ingest_settings)
    stop = asyncio.Event()
    task = asyncio.create_task(second.run(stop))
    await wait_until(lambda: second.pipeline.stats.written >= 300)
    stop.set()
    await asyncio.wait_for(task, 20)
    rows = influx_rows(influxd.url, influx_db, "SELECT seq, laeq FROM noise")
    assert sorted(row["seq"] for row in rows) == list(range(300))


async def test_births_are_written_to_the_sensors_measurement(
        ingester: Ingester, mosquitto: stack.Server, influxd: stack.Server, influx_db: str,
        topic_root: str) -> None:
    birth = {"v": 1, "sensor": "parking-fengxian-0002", "kind": "parking",
             "district": "fengxian", "site": "Nanqiao Mall", "lat": 30.91, "lon": 121.47,
             "zone": "retail", "interval_s": 60, "ts": int(time.time() * 1000),
             "attributes": {"capacity": 420, "land_use": "retail"}}
    publish_all(mosquitto.port, [(f"{topic_root}/sensors/fengxian/parking/parking-fengxian-0002",
                                  json.dumps(birth).encode())], retain=True)
    await wait_until(lambda: ingester.pipeline.stats.written >= 1)
    rows = influx_rows(influxd.url, influx_db, "SELECT * FROM sensors")
    assert len(rows) == 1
    row = rows[0]
    assert (row["sensor"], row["kind"], row["district"]) == (
        "parking-fengxian-0002", "parking", "fengxian")
    assert (row["lat"], row["lon"], row["site"], row["zone"], row["interval_s"]) == (
        30.91, 121.47, "Nanqiao Mall", "retail", 60)
    assert (row["capacity"], row["land_use"]) == (420, "retail")
    publish_all(mosquitto.port, [(f"{topic_root}/sensors/fengxian/parking/parking-fengxian-0002",
                                  b"")], retain=True)
