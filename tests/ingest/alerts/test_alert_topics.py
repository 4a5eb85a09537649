"""Alert state on MQTT through real servers: retained while active, restored after a restart."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

from ingest.service import Ingester
from ops import stack
from tests.conftest import Recorder, influx_rows, publish_all, wait_until
from urbanpulse.messages import alert_decoder
from urbanpulse.settings import IngestSettings


def _lot(root: str, lot: int, occupancy: float, seq: int) -> tuple[str, bytes]:
    sensor = f"parking-pudong-{lot:04d}"
    return (f"{root}/readings/pudong/parking/{sensor}",
            json.dumps({"v": 1, "sensor": sensor, "kind": "parking", "district": "pudong",
                        "ts": int(time.time() * 1000) - 1000 + seq, "seq": seq,
                        "values": {"occupancy": occupancy}}).encode())


def _states(recorder: Recorder) -> list[tuple[str, str]]:
    return [(alert.sensor, alert.state) for alert in
            (alert_decoder.decode(payload) for _, payload in recorder.messages if payload)]


async def test_late_subscribers_see_only_active_alerts(
        ingester: Ingester, mosquitto: stack.Server, influxd: stack.Server, influx_db: str,
        topic_root: str) -> None:
    live = Recorder(mosquitto.port, f"{topic_root}/alerts/#")
    publish_all(mosquitto.port, [_lot(topic_root, 1, 0.97, 1), _lot(topic_root, 2, 0.98, 1),
                                 _lot(topic_root, 2, 0.40, 2)])
    await wait_until(lambda: len(_states(live)) == 3)
    assert _states(live) == [("parking-pudong-0001", "firing"),
                             ("parking-pudong-0002", "firing"),
                             ("parking-pudong-0002", "resolved")]
    await wait_until(lambda: any(not payload for _, payload in live.messages))  # the clear
    late = Recorder(mosquitto.port, f"{topic_root}/alerts/#")
    await wait_until(lambda: len(late.messages) >= 1)
    await asyncio.sleep(0.3)  # nothing else may follow; only retained messages would
    live.close()
    late.close()
    assert _states(late) == [("parking-pudong-0001", "firing")]
    assert all(payload for _, payload in late.messages)
    await wait_until(lambda: len(influx_rows(influxd.url, influx_db,
                                             'SELECT * FROM "alerts"')) == 3)
    rows = influx_rows(influxd.url, influx_db, 'SELECT "message", "state", "sensor" FROM "alerts"')
    assert sorted((row["sensor"], row["state"]) for row in rows) == [
        ("parking-pudong-0001", "firing"), ("parking-pudong-0002", "firing"),
        ("parking-pudong-0002", "resolved")]


async def test_paho_and_mosquitto_sub_receive_the_same_alert_events(
        ingester: Ingester, mosquitto: stack.Server, topic_root: str) -> None:
    paho = Recorder(mosquitto.port, f"{topic_root}/alerts/#")
    with subprocess.Popen(["mosquitto_sub", "-p", str(mosquitto.port), "-q", "1", "-v",
                           "-t", f"{topic_root}/alerts/#", "-C", "3"],
                          stdout=subprocess.PIPE, text=True) as sub:
        await asyncio.sleep(0.5)  # mosquitto_sub has no readiness signal; the count ends it
        publish_all(mosquitto.port, [_lot(topic_root, 3, 0.99, 1), _lot(topic_root, 3, 0.2, 2)])
        try:  # in a thread: the ingester under test runs on this event loop
            output, _ = await asyncio.to_thread(sub.communicate, timeout=30)
        finally:
            sub.kill()
    await wait_until(lambda: len(paho.messages) >= 3)
    paho.close()
    lines = output.splitlines()
    # mosquitto_sub prints an empty payload (the retained clear) as "(null)"
    assert lines == [f"{topic} {payload.decode() or '(null)'}" for topic, payload in paho.messages]
    assert [line.split(" ", 1)[0] for line in lines] == [
        f"{topic_root}/alerts/pudong/parking/parking-pudong-0003/lot-nearly-full"] * 3


async def test_a_restarted_ingester_keeps_its_alerts(
        ingest_settings: IngestSettings, mosquitto: stack.Server, topic_root: str) -> None:
    watcher = Recorder(mosquitto.port, f"{topic_root}/alerts/#")
    first = Ingester(ingest_settings)
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    await asyncio.wait_for(first.subscribed.wait(), 10)
    publish_all(mosquitto.port, [_lot(topic_root, 4, 0.99, 1)])
    await wait_until(lambda: len(_states(watcher)) == 1)
    stop.set()
    await asyncio.wait_for(task, 20)

    second = Ingester(ingest_settings)
    stop = asyncio.Event()
    task = asyncio.create_task(second.run(stop))
    await asyncio.wait_for(second.subscribed.wait(), 10)
    assert [(a.sensor, a.state) for a in second.engine.active] == [
        ("parking-pudong-0004", "firing")]
    publish_all(mosquitto.port, [_lot(topic_root, 4, 0.99, 2), _lot(topic_root, 4, 0.5, 3)])
    await wait_until(lambda: len(_states(watcher)) == 2)
    stop.set()
    await asyncio.wait_for(task, 20)
    watcher.close()
    assert _states(watcher) == [("parking-pudong-0004", "firing"),
                                ("parking-pudong-0004", "resolved")]
