"""Bad device data through a real broker: dead-lettered with its reason, nothing of it written.

A dead letter, the log and memory stay bounded whatever the input, and a retained
bad birth is dead-lettered once, not on every restart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import time
import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.rejections import MAX_DEAD_LETTER_BYTES, TOPIC_CHARS, RejectionLog, dead_letter
from ingest.service import Ingester
from ops import stack
from tests.conftest import Recorder, influx_rows, publish_all, wait_until
from tests.ingest.processes import IngestProcess, ingest_env
from tests.ingest.test_decode import BAD_INPUTS, EXPECTED
from urbanpulse.messages import encoder, rejection_decoder
from urbanpulse.settings import IngestSettings

FLOOD = 30                               # payloads of 1 MB
FLOOD_RSS_GROWTH_LIMIT_KB = 30_000  # measured: 4 MB; whole payloads as dead letters: 330 MB
LOG_FLOOD = 20_000                       # malformed readings
QOS0_FLOOD = 2_000                       # messages the ingester ignores


async def test_bad_input_is_dead_lettered_and_good_input_written(
        ingester: Ingester, mosquitto: stack.Server, influxd: stack.Server, influx_db: str,
        topic_root: str) -> None:
    now = int(time.time() * 1000)
    rejected = Recorder(mosquitto.port, f"{topic_root}/rejected/#")
    # A topic outside the grammar never matches the ingester's subscription (unit-tested).
    cases = [case for case in BAD_INPUTS if case[0] != "bad-topic"]
    bad = []
    for case, topic, payload in cases:
        sent = payload
        if case in ("future", "stale"):  # re-base the window on the real clock
            reading = json.loads(payload)
            reading["ts"] = now + 3_600_000 if case == "future" else now - 40 * 86_400_000
            sent = json.dumps(reading).encode()
        if case == "oversize":
            sent = payload.replace(b'"pad": "', b'"pad": "' + b"x" * 20_000)
        bad.append((topic.replace("city/", f"{topic_root}/", 1), sent))
    good = [(f"{topic_root}/readings/pudong/air/air-pudong-{n:04d}",
             json.dumps({"v": 1, "sensor": f"air-pudong-{n:04d}", "kind": "air",
                         "district": "pudong", "ts": now, "seq": n,
                         "values": {"pm25": float(n)}}).encode()) for n in range(5)]
    publish_all(mosquitto.port, good[:2] + bad + good[2:])

    await wait_until(lambda: len(rejected.messages) >= len(bad))
    await wait_until(lambda: ingester.pipeline.stats.written >= len(good))
    rejected.close()

    reasons = []
    for topic, payload in rejected.messages:
        dead = rejection_decoder.decode(payload)
        assert topic == f"{topic_root}/rejected/{dead.reason}"
        reasons.append((dead.topic, dead.reason))
    expected = [(topic, EXPECTED[case]) for (case, _, _), (topic, _) in zip(
        cases, bad, strict=True)]
    assert sorted(reasons) == sorted(expected)
    assert ingester.pipeline.stats.rejected.total() == len(bad)

    rows = influx_rows(influxd.url, influx_db, "SELECT * FROM air")
    assert sorted((row["sensor"], row["seq"]) for row in rows) == [
        (f"air-pudong-{n:04d}", n) for n in range(5)]


async def test_points_influxdb_refuses_are_isolated_and_dead_lettered(
        ingester: Ingester, mosquitto: stack.Server, influxd: stack.Server, influx_db: str,
        topic_root: str) -> None:
    now = int(time.time() * 1000)
    # An integer field `pm25` makes every later float pm25 point a field-type conflict.
    conflict = httpx.post(f"{influxd.url}/write?db={influx_db}&precision=ms",
                          content=f"air,district=pudong,sensor=air-pudong-0009 pm25=1i {now}")
    assert conflict.status_code == 204
    rejected = Recorder(mosquitto.port, f"{topic_root}/rejected/#")
    messages = [(f"{topic_root}/readings/pudong/{kind}/{kind}-pudong-0009",
                 json.dumps({"v": 1, "sensor": f"{kind}-pudong-0009", "kind": kind,
                             "district": "pudong", "ts": now, "seq": 1,
                             "values": values}).encode())
                for kind, values in (("noise", {"laeq": 55.0}), ("air", {"pm25": 12.5}),
                                     ("water", {"ph": 7.2}))]
    publish_all(mosquitto.port, messages)
    await wait_until(lambda: len(rejected.messages) >= 1 and
                     ingester.pipeline.stats.written >= 2)
    rejected.close()
    assert len(rejected.messages) == 1
    dead = rejection_decoder.decode(rejected.messages[0][1])
    assert dead.reason == "influx-rejected"
    assert dead.topic.endswith("/air/air-pudong-0009")
    assert "conflict" in dead.detail
    assert len(influx_rows(influxd.url, influx_db, "SELECT laeq FROM noise")) == 1
    assert len(influx_rows(influxd.url, influx_db, "SELECT ph FROM water")) == 1


def _vm_kb(pid: int, field: str) -> int:
    """Return `field` (VmRSS, VmHWM: the peak) of process `pid` in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def test_a_dead_letter_is_bounded_whatever_the_topic_detail_and_payload() -> None:
    worst = "\x01" * 65_535  # JSON writes a control character as six bytes
    for payload in (worst.encode(), bytes(range(256)) * 4096, "é".encode() * 600_000):
        letter = dead_letter(worst, payload, "schema", worst, 1)
        encoded = encoder.encode(letter)
        assert len(encoded) <= MAX_DEAD_LETTER_BYTES
        assert rejection_decoder.decode(encoded) == letter
        assert (letter.size, letter.sha256) == (len(payload), hashlib.sha256(payload).hexdigest())
        assert letter.truncated
    binary = dead_letter("t", bytes(range(256)) * 4096, "schema", "d", 1)
    assert (binary.encoding, base64.b64decode(binary.payload)) == ("base64", bytes(range(256)))
    cut = dead_letter("t", "é".encode() * 600_000, "schema", "d", 1)  # 256 bytes end mid-é
    assert (cut.encoding, cut.payload) == ("utf-8", "é" * 128)
    small = dead_letter("t", b"{oops", "malformed-json", "d", 1)
    assert (small.payload, small.encoding, small.size, small.truncated) == (
        "{oops", "utf-8", 5, False)


def test_the_rejection_log_logs_a_burst_per_reason_then_counts(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    rejections = RejectionLog(logging.getLogger("test.rejections"), burst=3, interval_s=60,
                              clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "test.rejections"):
        for n in range(1000):
            rejections.rejected("city/" + "x" * 70_000, "schema", "y" * 70_000, b"z" * 10**6)
            rejections.rejected(f"city/{n}", "oversize", "big", b"")
        now[0] = 61.0
        rejections.rejected("city/a", "schema", "again", b"")
        rejections.flush()
    lines = [record.getMessage() for record in caplog.records]
    assert sum(line.startswith("rejected ") for line in lines) == 3 + 3 + 1
    assert max(len(line) for line in lines) < 2_000
    assert "997 more schema rejections in the last 61 s (not logged one by one)" in lines
    assert "997 more oversize rejections in the last 61 s (not logged one by one)" in lines
    assert len(lines) == 3 + 1 + 3 + 1 + 2 + 1  # bursts, their notices, summaries, the new one


async def test_an_oversize_binary_flood_leaves_small_dead_letters_and_bounded_memory(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path) -> None:
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=influx_db,
                     root=topic_root, ingest_metrics_interval_s=0.5)
    ingest = IngestProcess(env, tmp_path, mosquitto.port)
    rejected = Recorder(mosquitto.port, f"{topic_root}/rejected/#")
    try:
        ingest.start()
        before = _vm_kb(ingest.pid, "VmRSS")
        payload = b"\x01" * 1_000_000
        topic = f"{topic_root}/readings/pudong/air/air-pudong-0001"
        await asyncio.to_thread(publish_all, mosquitto.port, [(topic, payload)] * FLOOD)
        await wait_until(lambda: len(rejected.messages) >= FLOOD, 60)
        peak_growth = _vm_kb(ingest.pid, "VmHWM") - before
        huge = f"{topic_root}/readings/{'p' * 60_000}/air/air-pudong-0001"  # MQTT allows 65,535
        publish_all(mosquitto.port, [(huge, b"{}")])
        await wait_until(lambda: len(rejected.messages) >= FLOOD + 1, 30)
        query = f'SELECT * FROM "pipeline" WHERE "received" = {FLOOD + 1}'
        await wait_until(lambda: bool(influx_rows(influxd.url, influx_db, query)), 30)
        row = influx_rows(influxd.url, influx_db, query)[-1]
        assert (row["rejected_oversize"], row["rejected_schema"]) == (FLOOD, 1)
        log_bytes = ingest.log.stat().st_size
    finally:
        rejected.close()
        ingest.close()
    assert len(rejected.messages) == FLOOD + 1
    *oversize, (bad_topic, encoded) = rejected.messages
    assert bad_topic == f"{topic_root}/rejected/schema"
    assert len(encoded) <= 1_000
    letter = rejection_decoder.decode(encoded)
    assert (len(letter.topic), letter.truncated) == (TOPIC_CHARS, True)
    assert log_bytes < 20_000  # 31 warnings, none with a whole payload or topic
    for dead_topic, encoded in oversize:
        assert dead_topic == f"{topic_root}/rejected/oversize"
        assert len(encoded) <= 2_048  # 256 control characters at six bytes each, and the rest
        letter = rejection_decoder.decode(encoded)
        assert (letter.topic, letter.payload, letter.encoding) == (topic, "\x01" * 256, "utf-8")
        assert (letter.size, letter.sha256, letter.truncated) == (
            len(payload), hashlib.sha256(payload).hexdigest(), True)
    # 30 MB arrived; the whole payloads as dead letters grew the process by 330 MB.
    assert peak_growth < FLOOD_RSS_GROWTH_LIMIT_KB, f"peak RSS grew by {peak_growth} KiB"


async def test_a_rejection_flood_writes_a_bounded_log(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path) -> None:
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=influx_db,
                     root=topic_root, ingest_rejection_log_interval_s=4)
    ingest = IngestProcess(env, tmp_path, mosquitto.port)
    rejected = Recorder(mosquitto.port, f"{topic_root}/rejected/#")
    topic = f"{topic_root}/readings/pudong/air/air-pudong-0001"
    try:
        ingest.start()
        await asyncio.to_thread(publish_all, mosquitto.port, [(topic, b"{oops")] * LOG_FLOOD)
        await asyncio.to_thread(_publish_qos0, mosquitto.port, topic, QOS0_FLOOD)
        await wait_until(lambda: len(rejected.messages) >= LOG_FLOOD, 120)

        def told(reason: str, total: int) -> bool:
            lines = ingest.log.read_text().splitlines()
            one_by_one = sum(f"({reason}):" in line for line in lines)
            counted = sum(int(match[1]) for line in lines
                          if (match := re.search(rf"(\d+) more {reason} rejections", line)))
            return one_by_one + counted == total

        await wait_until(lambda: told("malformed-json", LOG_FLOOD) and told("qos0", QOS0_FLOOD),
                         30)
    finally:
        rejected.close()
        ingest.close()
    assert len(rejected.messages) == LOG_FLOOD
    log_bytes = ingest.log.stat().st_size  # one line per rejection wrote 5.5 MB for 20,000
    assert log_bytes < 40_000, ingest.log_tail()


def _publish_qos0(port: int, topic: str, count: int) -> None:
    """Publish `count` QoS 0 messages, which the ingester ignores (it takes QoS 1)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"qos0-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, b"{}", qos=0) for _ in range(count)]
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


async def test_a_retained_bad_birth_is_dead_lettered_once_across_restarts(
        ingest_settings: IngestSettings, mosquitto: stack.Server, influxd: stack.Server,
        influx_db: str, topic_root: str) -> None:
    now = int(time.time() * 1000)
    birth = {"v": 1, "sensor": "noise-pudong-0003", "kind": "noise", "district": "pudong",
             "site": "Lujiazui", "lat": 31.23, "lon": 121.5, "zone": "2", "interval_s": 60,
             "ts": now, "attributes": {}}
    good = (f"{topic_root}/sensors/pudong/noise/noise-pudong-0003", json.dumps(birth).encode())
    bad = (f"{topic_root}/sensors/pudong/noise/noise-pudong-0004", b'{"v": 1, "sensor": 4}')
    rejected = Recorder(mosquitto.port, f"{topic_root}/rejected/#")

    async def one_run(first: bool) -> None:
        stop = asyncio.Event()
        ingester = Ingester(ingest_settings)
        task = asyncio.create_task(ingester.run(stop))
        await asyncio.wait_for(ingester.subscribed.wait(), 10)
        if first:
            publish_all(mosquitto.port, [good, bad], retain=True)
            await wait_until(lambda: ingester.pipeline.stats.births == 1
                             and len(rejected.messages) == 1)
        else:  # what the broker would redeliver comes right after the SUBACK
            await asyncio.sleep(1.5)
        assert ingester.engine.zone("noise-pudong-0003") == "2"  # known after a restart too
        stop.set()
        await asyncio.wait_for(task, 30)

    try:
        for run in range(3):
            await one_run(run == 0)
    finally:
        rejected.close()
        publish_all(mosquitto.port, [(good[0], b""), (bad[0], b"")], retain=True)
    assert [rejection_decoder.decode(payload).topic for _, payload in rejected.messages] == [
        bad[0]]
    rows = influx_rows(influxd.url, influx_db, 'SELECT * FROM "sensors"')
    assert [row["sensor"] for row in rows] == ["noise-pudong-0003"]
