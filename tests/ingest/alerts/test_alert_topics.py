"""Alert state on MQTT through real servers: retained while active, restored after a restart,
signed, and changed only by signed acks."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from pydantic import SecretStr

from ingest.alerts.engine import fingerprint
from ingest.service import Ingester
from ops import stack
from tests.conftest import Recorder, influx_rows, publish_all, wait_until
from urbanpulse.messages import AckCommand, Alert, alert_decoder, encoder
from urbanpulse.settings import IngestSettings
from urbanpulse.signing import is_signed_alert, signed_ack
from urbanpulse.topics import ack_topic, alert_topic


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


# ------------------------------------------------ forged state and acks (docs/alerts.md)

ALERT_KEY = "alert-key-5d1e9b0c7a3f42e8"
RULE = "lot-nearly-full"


@pytest.fixture
def keyed(ingest_settings: IngestSettings) -> IngestSettings:
    """The test ingester's settings with an alert key."""
    return ingest_settings.model_copy(update={"alert_key": SecretStr(ALERT_KEY)})


@asynccontextmanager
async def running(settings: IngestSettings) -> AsyncIterator[Ingester]:
    """Run an ingester for `settings` until the block ends."""
    ingester = Ingester(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))
    await asyncio.wait_for(ingester.subscribed.wait(), 10)
    try:
        yield ingester
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def forged_alert(root: str, lot: int, **changes: Any) -> tuple[str, bytes]:
    """Return the topic and payload of a firing alert nobody's engine raised."""
    sensor = f"parking-pudong-{lot:04d}"
    now = int(time.time() * 1000)
    alert = Alert(v=1, alert_id=fingerprint(RULE, sensor), rule=RULE, sensor=sensor,
                  kind="parking", district="pudong", state="firing", severity="medium",
                  ts=now, since=now, message="occupancy 0.99 above 0.95", value=0.99)
    payload = msgspec.structs.asdict(msgspec.structs.replace(alert, **changes))
    if payload["sig"] is None:
        del payload["sig"]  # the message of contract v1 before signatures: it decoded then
    return alert_topic("pudong", "parking", sensor, RULE, root=root), encoder.encode(payload)


def publish_retained(port: int, topic: str, payload: bytes) -> None:
    subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-r", "-t", topic,
                    "-s" if payload else "-n"], input=payload, check=True, timeout=10)


async def test_a_forged_retained_alert_is_not_adopted_on_restart(
        keyed: IngestSettings, mosquitto: stack.Server, influxd: stack.Server,
        influx_db: str, topic_root: str) -> None:
    forged = [forged_alert(topic_root, 10),
              forged_alert(topic_root, 11, sig="0" * 64),  # a signature, but not a valid one
              forged_alert(topic_root, 12, state="acknowledged", acked_by="intruder")]
    for topic, payload in forged:
        publish_retained(mosquitto.port, topic, payload)
    async with running(keyed) as ingester:
        assert ingester.engine.active == []
        # a restored alert would resolve on these readings and be written to `alerts`
        publish_all(mosquitto.port, [_lot(topic_root, lot, 0.5, 1) for lot in (10, 11, 12)]
                    + [_lot(topic_root, 13, 0.99, 1)])
        await wait_until(lambda: len(influx_rows(influxd.url, influx_db,
                                                 'SELECT * FROM "parking"')) == 4)
        await wait_until(lambda: len(influx_rows(influxd.url, influx_db,
                                                 'SELECT * FROM "alerts"')) == 1)
        await asyncio.sleep(0.3)  # the batch of the low readings is written: no alert follows
    rows = influx_rows(influxd.url, influx_db,
                      'SELECT "message", "sensor", "state" FROM "alerts"')
    assert [(row["sensor"], row["state"]) for row in rows] == [
        ("parking-pudong-0013", "firing")]


async def test_a_restarted_ingester_restores_from_influxdb_not_the_broker(
        keyed: IngestSettings, mosquitto: stack.Server, topic_root: str) -> None:
    async with running(keyed):
        publish_all(mosquitto.port, [_lot(topic_root, 14, 0.99, 1)])
        watcher = Recorder(mosquitto.port, f"{topic_root}/alerts/#")
        await wait_until(lambda: len(_states(watcher)) == 1)
        watcher.close()
    # Someone clears the retained state: the ingester's own record still has the alert.
    publish_retained(mosquitto.port, watcher.messages[0][0], b"")
    async with running(keyed) as second:
        assert [(a.sensor, a.state, a.sig) for a in second.engine.active] == [
            ("parking-pudong-0014", "firing", None)]


def _dead_letters(recorder: Recorder) -> list[tuple[str, str]]:
    letters = [json.loads(payload) for _, payload in recorder.messages]
    return [(letter["reason"], letter["detail"]) for letter in letters]


async def test_only_fresh_signed_acks_reach_the_engine(
        keyed: IngestSettings, mosquitto: stack.Server, topic_root: str) -> None:
    key = ALERT_KEY.encode()
    other = b"another-key-0000000000"
    alert_id = fingerprint(RULE, "parking-pudong-0015")
    now = int(time.time() * 1000)
    genuine = signed_ack(alert_id, "duty-officer", "crew sent", key=key, now_ms=now)
    commands = [
        AckCommand(alert_id=alert_id, by="intruder", note="unsigned"),
        signed_ack(alert_id, "intruder", "another key", key=other, now_ms=now),
        msgspec.structs.replace(genuine, by="intruder"),  # signed, then altered
        signed_ack(alert_id, "intruder", "an hour old", key=key, now_ms=now - 3_600_000),
    ]
    letters = Recorder(mosquitto.port, f"{topic_root}/rejected/#")
    watcher = Recorder(mosquitto.port, f"{topic_root}/alerts/#")
    async with running(keyed) as ingester:
        publish_all(mosquitto.port, [_lot(topic_root, 15, 0.99, 1)])
        await wait_until(lambda: len(_states(watcher)) == 1)
        topic = ack_topic(root=topic_root)
        publish_all(mosquitto.port, [(topic, encoder.encode(command)) for command in commands]
                    + [(topic, json.dumps({"alert_id": alert_id, "by": "x\x1b[2J",
                                           "note": ""}).encode())])
        await wait_until(lambda: len(letters.messages) == 5)
        assert [(a.state, a.acked_by) for a in ingester.engine.active] == [("firing", None)]
        publish_all(mosquitto.port, [(topic, encoder.encode(genuine))] * 2)  # and a replay
        await wait_until(lambda: len(letters.messages) == 6)
        await wait_until(lambda: len(_states(watcher)) == 2)
        assert [(a.state, a.acked_by, a.note) for a in ingester.engine.active] == [
            ("acknowledged", "duty-officer", "crew sent")]
    letters.close()
    watcher.close()
    reasons = [reason for reason, _ in _dead_letters(letters)]
    assert reasons == ["unauthenticated"] * 3 + ["stale-command", "schema", "replayed-command"]
    acknowledged = alert_decoder.decode(watcher.messages[-1][1])
    assert is_signed_alert(acknowledged, key)
    assert not is_signed_alert(acknowledged, other)


async def test_an_ingester_without_a_key_refuses_every_ack(
        ingester: Ingester, mosquitto: stack.Server, topic_root: str) -> None:
    letters = Recorder(mosquitto.port, f"{topic_root}/rejected/#")
    alert_id = fingerprint(RULE, "parking-pudong-0016")
    publish_all(mosquitto.port, [_lot(topic_root, 16, 0.99, 1)])
    await wait_until(lambda: len(ingester.engine.active) == 1)
    command = signed_ack(alert_id, "ops", "", key=ALERT_KEY.encode(),
                         now_ms=int(time.time() * 1000))
    publish_all(mosquitto.port, [(ack_topic(root=topic_root), encoder.encode(command))])
    await wait_until(lambda: len(letters.messages) == 1)
    letters.close()
    assert _dead_letters(letters) == [(
        "unauthenticated", "This ingester has no URBANPULSE_ALERT_KEY, so it can verify no ack "
                           "command and applies none.")]
    assert [a.state for a in ingester.engine.active] == ["firing"]
