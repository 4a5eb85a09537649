"""Nothing lost under real faults: `urbanpulse ingest` as a child process, real servers.

Every test publishes readings with distinct (sensor, seq) and device time,
breaks something while they flow, and then asserts that InfluxDB holds each
(sensor, seq) exactly once at its device time.

The InfluxDB outage lasts `OUTAGE_S`, 60 s as the issue asks (the file takes about
two minutes on two idle cores, two and a half on busy ones; 20 s would do for the memory
argument too: the broker stops sending once the in-flight window is full,
long before the outage ends). Measured while calibrating: with the window at
1,000 the ingester's RSS stays flat while 60,000 readings queue at the broker;
with a window larger than the backlog it grows by about 40 MB.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.rejections import excerpt
from ops import stack
from tests.conftest import Recorder, influx_rows, publish_all, wait_until
from tests.faultproxy import Action, FaultProxy
from tests.ingest.processes import (
    DISTRICT,
    Closer,
    IngestProcess,
    Message,
    RestartableServer,
    StreamPublisher,
    assert_exactly_once,
    count_readings,
    holds_readings,
    ingest_env,
    keys,
    readings,
    rss_kb,
)
from urbanpulse.messages import rejection_decoder

OUTAGE_S = 60.0
OUTAGE_READINGS = 60_000      # published while InfluxDB is down: ~40 MB if held in memory
OUTAGE_INFLIGHT = 1_000       # the ingester's Receive Maximum during the outage
RSS_GROWTH_LIMIT_KB = 20_000  # a bounded ingester grows far less than the 60,000 readings weigh
POISON = 2_000
POISON_INFLIGHT = 50


@pytest.fixture
def closing() -> Iterator[Closer]:
    """Register processes and clients to close (kill) at teardown, last first."""
    closer = Closer()
    yield closer
    closer.close_all()


@pytest.fixture
def own_influxd(tmp_path: Path, server_binaries: None) -> Iterator[RestartableServer]:
    """An InfluxDB of this test alone, which it may stop and restart."""
    server = RestartableServer(functools.partial(
        stack.start_influxd, tmp_path / "influxd", stack.free_port(), stack.free_port()))
    yield server
    server.stop()


@pytest.fixture
def own_mosquitto(tmp_path: Path, server_binaries: None) -> Iterator[RestartableServer]:
    """A mosquitto of this test alone (persistence on), which it may stop and restart."""
    server = RestartableServer(functools.partial(
        stack.start_mosquitto, tmp_path / "mosquitto", stack.free_port()))
    yield server
    server.stop()


async def test_ingester_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path, closing: Closer) -> None:
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=influx_db,
                     root=topic_root)
    ingest = closing(IngestProcess(env, tmp_path, mosquitto.port))
    ingest.start()
    messages = readings(topic_root, 8_000)
    publisher = closing(StreamPublisher(mosquitto.port, messages, rate=1_000).start())
    await wait_until(holds_readings(influxd.url, influx_db, 1_500), 60)

    ingest.kill()
    assert count_readings(influxd.url, influx_db) < len(messages), "not killed mid-stream"
    ingest.start()
    await asyncio.to_thread(publisher.wait_acked)
    await wait_until(holds_readings(influxd.url, influx_db, len(messages)), 90)
    assert ingest.terminate(60) == 0
    assert_exactly_once(influxd.url, influx_db, keys(messages))


async def test_influxdb_outage_keeps_memory_bounded_and_loses_nothing(
        mosquitto: stack.Server, own_influxd: RestartableServer, topic_root: str,
        tmp_path: Path, closing: Closer) -> None:
    db = "city"
    stack.create_database(own_influxd.url, db)
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=own_influxd.url, influx_db=db,
                     root=topic_root, ingest_max_inflight=OUTAGE_INFLIGHT)
    ingest = closing(IngestProcess(env, tmp_path, mosquitto.port))
    ingest.start()
    before = readings(topic_root, 2_000)
    publish_all(mosquitto.port, before)
    await wait_until(holds_readings(own_influxd.url, db, len(before)), 60)

    own_influxd.stop()
    down_at = time.monotonic()
    baseline = rss_kb(ingest.pid)
    during = readings(topic_root, OUTAGE_READINGS, first=len(before))
    publisher = closing(StreamPublisher(mosquitto.port, during,
                                        rate=OUTAGE_READINGS / (0.7 * OUTAGE_S)).start())
    samples = [baseline]
    while time.monotonic() < down_at + OUTAGE_S or publisher.acked < len(during):
        assert ingest.running(), f"ingest exited while InfluxDB was down:\n{ingest.log_tail()}"
        samples.append(rss_kb(ingest.pid))
        await asyncio.sleep(0.5)
    assert max(samples) - baseline <= RSS_GROWTH_LIMIT_KB, (
        f"RSS grew from {baseline} KiB to {max(samples)} KiB while InfluxDB was down")

    own_influxd.restart()
    after = readings(topic_root, 2_000, first=len(before) + len(during))
    publish_all(mosquitto.port, after)
    total = len(before) + len(during) + len(after)
    await wait_until(holds_readings(own_influxd.url, db, total), 180)
    assert ingest.terminate(60) == 0
    assert_exactly_once(own_influxd.url, db, keys(before + during + after))


async def test_mosquitto_restart_mid_stream_loses_nothing(
        own_mosquitto: RestartableServer, influxd: stack.Server, influx_db: str,
        topic_root: str, tmp_path: Path, closing: Closer) -> None:
    env = ingest_env(mqtt_port=own_mosquitto.port, influx_url=influxd.url, influx_db=influx_db,
                     root=topic_root)
    ingest = closing(IngestProcess(env, tmp_path, own_mosquitto.port))
    ingest.start()
    messages = readings(topic_root, 8_000)
    publisher = closing(StreamPublisher(own_mosquitto.port, messages, rate=1_000).start())
    await wait_until(holds_readings(influxd.url, influx_db, 1_500), 60)

    own_mosquitto.stop()
    assert count_readings(influxd.url, influx_db) < len(messages), "not restarted mid-stream"
    own_mosquitto.restart()
    await asyncio.to_thread(publisher.wait_acked)
    await wait_until(holds_readings(influxd.url, influx_db, len(messages)), 120)
    assert ingest.running(), f"ingest exited:\n{ingest.log_tail()}"
    assert ingest.terminate(60) == 0
    assert_exactly_once(influxd.url, influx_db, keys(messages))


def _poison(root: str, n: int, now_ms: int) -> tuple[str, bytes, str]:
    """Return topic, payload and expected reason of bad message `n`, one of nine kinds."""
    sensor = f"noise-{DISTRICT}-p{n:05d}"
    topic = f"{root}/readings/{DISTRICT}/noise/{sensor}"
    body: dict[str, object] = {"v": 1, "sensor": sensor, "kind": "noise", "district": DISTRICT,
                               "ts": now_ms, "seq": n, "values": {"laeq": 50.0}}
    case = n % 9
    if case == 0:
        return topic, f'{{"v": 1, "seq": {n}, "values": {{'.encode(), "malformed-json"
    if case == 1:
        body["v"] = 2
        return topic, json.dumps(body).encode(), "schema"
    if case == 2:
        body["values"] = {"laeq": 999.0}
        return topic, json.dumps(body).encode(), "out-of-range"
    if case == 3:
        body["values"] = {"pm25": 10.0}
        return topic, json.dumps(body).encode(), "unknown-metric"
    if case == 4:
        body["sensor"] = f"noise-{DISTRICT}-q{n:05d}"
        return topic, json.dumps(body).encode(), "topic-mismatch"
    if case == 5:
        return topic, json.dumps(body).encode().replace(b"50.0", b"NaN"), "non-finite"
    if case == 6:
        body["ts"] = now_ms + 3_600_000
        return topic, json.dumps(body).encode(), "future-timestamp"
    if case == 7:
        body["ts"] = now_ms - 40 * 86_400_000
        return topic, json.dumps(body).encode(), "stale-timestamp"
    body["pad"] = "x" * 17_000
    return topic, json.dumps(body).encode(), "oversize"


async def test_poison_flood_beyond_the_inflight_window_is_dead_lettered_and_never_stalls(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path, closing: Closer) -> None:
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=influx_db,
                     root=topic_root, ingest_max_inflight=POISON_INFLIGHT)
    ingest = closing(IngestProcess(env, tmp_path, mosquitto.port))
    ingest.start()
    rejected = closing(Recorder(mosquitto.port, f"{topic_root}/rejected/#"))
    now_ms = int(time.time() * 1000)
    poison = [_poison(topic_root, n, now_ms) for n in range(POISON)]
    good = readings(topic_root, POISON // 2)
    stream: list[Message] = []
    for n, (topic, payload, _) in enumerate(poison):  # good, bad, bad, good, bad, bad...
        if n % 2 == 0:
            stream.append(good[n // 2])
        stream.append((topic, payload))
    await asyncio.to_thread(publish_all, mosquitto.port, stream)
    await wait_until(lambda: len(rejected.messages) >= POISON, 120)
    await wait_until(holds_readings(influxd.url, influx_db, len(good)), 120)

    last = readings(topic_root, 1, first=len(good))  # the loop still takes new readings
    publish_all(mosquitto.port, last)
    await wait_until(holds_readings(influxd.url, influx_db, len(good) + 1), 60)
    assert ingest.terminate(60) == 0
    dead = []
    for topic, payload in rejected.messages:
        letter = rejection_decoder.decode(payload)
        assert topic == f"{topic_root}/rejected/{letter.reason}"
        assert letter.detail
        dead.append((letter.topic, letter.payload, letter.reason))
    assert sorted(dead) == sorted((topic, excerpt(payload)[0], reason)
                                  for topic, payload, reason in poison)
    assert_exactly_once(influxd.url, influx_db, keys(good + last))


class _TimedPlan(deque[Action]):
    """A fault plan that records when each planned request arrived."""

    def __init__(self, actions: list[Action]) -> None:
        super().__init__(actions)
        self.arrivals: list[tuple[Action, float]] = []

    def popleft(self) -> Action:
        action = super().popleft()
        self.arrivals.append((action, time.monotonic()))
        return action


async def test_throttling_errors_timeouts_and_resets_are_retried_until_written(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path, closing: Closer) -> None:
    proxy = FaultProxy(influxd.url)
    await proxy.start()
    faults: list[Action] = [(429, "1.5"), (503, "1"), "timeout", "reset", 503, "pass",
                            "timeout", (429, "0"), "reset", 500, "reset", "pass", (503, "0.5"),
                            "timeout", "pass"]
    plan = _TimedPlan(["pass", *faults])  # first the start-up check
    proxy.plan = plan
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=proxy.url, influx_db=influx_db,
                     root=topic_root, influx_timeout_s=1, ingest_retry_max_s=5,
                     ingest_batch_size=250, ingest_metrics_interval_s=3600)
    ingest = closing(IngestProcess(env, tmp_path, mosquitto.port))
    try:
        await asyncio.to_thread(ingest.start)
        messages: list[Message] = []
        while proxy.plan or not messages:  # one write per chunk, at least one fault each
            assert len(messages) < 10_000, f"faults left unused: {list(proxy.plan)}"
            chunk = readings(topic_root, 200, first=len(messages))
            messages += chunk
            await asyncio.to_thread(publish_all, mosquitto.port, chunk)
            await wait_until(holds_readings(influxd.url, influx_db, len(messages)), 120)
        assert await asyncio.to_thread(ingest.terminate, 60) == 0
    finally:
        await proxy.close()
    assert_exactly_once(influxd.url, influx_db, keys(messages))
    assert [action for action, _ in plan.arrivals] == ["pass", *faults]
    for (action, at), (_, retried_at) in zip(plan.arrivals, plan.arrivals[1:], strict=False):
        if isinstance(action, tuple) and float(action[1]) > 0:
            assert retried_at - at >= float(action[1]) - 0.05, (
                f"retried {retried_at - at:.2f} s after {action}")


def _pipeline(url: str, db: str, instance: str) -> dict[str, int]:
    rows = influx_rows(url, db, 'SELECT last("pending") AS pending, last("received") AS '
                       f"received, last(\"written\") AS written FROM \"pipeline\" WHERE "
                       f"\"instance\" = '{instance}'")
    return {name: int(rows[0][name]) for name in ("pending", "received", "written")} if rows else {}


async def test_sigterm_with_a_full_buffer_drains_acknowledges_and_exits_0(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path, closing: Closer) -> None:
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=influx_db,
                     root=topic_root, ingest_instance="first", ingest_flush_interval_s=60,
                     ingest_batch_size=100_000, ingest_metrics_interval_s=0.5,
                     ingest_drain_timeout_s=20)
    first = closing(IngestProcess(env, tmp_path, mosquitto.port))
    first.start()
    messages = readings(topic_root, 3_000)
    publish_all(mosquitto.port, messages)
    await wait_until(lambda: _pipeline(influxd.url, influx_db, "first").get("received")
                     == len(messages), 60)
    buffered = _pipeline(influxd.url, influx_db, "first")
    # Pending may exceed the readings by the alert points that ride in the same batch.
    assert buffered["pending"] >= len(messages), buffered
    assert buffered["written"] == 0, buffered
    assert count_readings(influxd.url, influx_db) == 0, "the batch was written before SIGTERM"

    assert first.terminate(20 + 30) == 0
    assert "drain did not finish" not in first.log_tail()
    assert_exactly_once(influxd.url, influx_db, keys(messages))

    # The same session again: had anything gone unacknowledged, the broker would deliver
    # it before the sentinel published after the second ingester subscribed.
    second = closing(IngestProcess({**env, "URBANPULSE_INGEST_INSTANCE": "second",
                                    "URBANPULSE_INGEST_FLUSH_INTERVAL_S": "0.05"},
                                   tmp_path, mosquitto.port))
    second.start()
    sentinel = readings(topic_root, 1, first=len(messages))
    publish_all(mosquitto.port, sentinel)
    await wait_until(lambda: _pipeline(influxd.url, influx_db, "second").get("written", 0)
                     >= 1, 60)
    assert _pipeline(influxd.url, influx_db, "second")["received"] == 1
    assert second.terminate(60) == 0
    assert_exactly_once(influxd.url, influx_db, keys(messages + sentinel))
