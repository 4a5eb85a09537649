"""The simulator waits while the broker holds too much for a consumer, instead of overrunning it.

Each test starts its own mosquitto with a small per-client queue
(`max_queued_messages`) and a consumer whose kept session is offline, so the
broker queues every reading for it: the shared broker's other sessions would
count in its store.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ops import stack
from simulator import broker_queue, run
from simulator.run import simulate
from simulator.sinks import MqttSink
from tests.conftest import _require as require_server
from tests.conftest import wait_until
from urbanpulse.settings import SimSettings

pytestmark = pytest.mark.services

BROKER_QUEUE = 3000
"""The broker's queue per client: past it, mosquitto drops."""
START = datetime(2025, 11, 24, 2, tzinfo=UTC)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[stack.Server]:
    """A mosquitto of its own, queueing at most BROKER_QUEUE messages per client."""
    server = require_server(stack.start_mosquitto, tmp_path / "mosquitto", stack.free_port(),
                            extra=(f"max_queued_messages {BROKER_QUEUE}", "sys_interval 1"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backfill in chunks of 250, so that a chunk is well under the broker's queue."""
    monkeypatch.setattr(run, "BACKFILL_CHUNK", 250)


class Consumer:
    """A QoS 1 subscriber with a session the broker keeps while it is away."""

    def __init__(self, port: int, topic_filter: str) -> None:
        self.received = 0
        self._port, self._filter = port, topic_filter
        self._client = self._connect()
        self._client.subscribe(topic_filter, qos=1)

    def _connect(self) -> paho.Client:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="lagging-consumer",
                             protocol=MQTTProtocolVersion.MQTTv5)
        subscribed = threading.Event()
        client.on_connect = lambda *_: subscribed.set()
        client.on_message = self._count
        session = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        session.SessionExpiryInterval = 600
        client.connect("127.0.0.1", self._port, clean_start=False, properties=session)
        client.loop_start()
        assert subscribed.wait(10), "no CONNACK"
        return client

    def _count(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.received += 1

    def leave(self) -> None:
        """Go away; the broker queues for the session."""
        self._client.disconnect()
        self._client.loop_stop()

    def come_back(self) -> None:
        """Connect to the kept session and take what was queued."""
        self._client = self._connect()


def backfill(port: int, topic_root: str, max_queued: int) -> SimSettings:
    """Three hours of a small city from the past: about 8,000 readings, unpaced."""
    return SimSettings(mqtt_host="127.0.0.1", mqtt_port=port, topic_root=topic_root,
                       sim_speed=0, sim_start=START, sim_duration_s=3 * 3600, sim_seed=3,
                       sim_sensors=120, sim_max_queued=max_queued)


async def test_a_backfill_waits_while_a_consumer_lags_and_it_loses_nothing(
        broker: stack.Server, topic_root: str, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker_queue, "STILL_WAITING_S", 1.0)
    caplog.set_level(logging.WARNING, logger="simulator.broker_queue")
    consumer = Consumer(broker.port, f"{topic_root}/readings/#")
    consumer.leave()
    sink = await MqttSink.connect(backfill(broker.port, topic_root, 1000))
    assert sink.queue is not None
    assert sink.queue.queued is not None
    run_ = asyncio.create_task(simulate(backfill(broker.port, topic_root, 1000), sink))
    try:
        await wait_until(lambda: sink.queue is not None and sink.queue.pauses > 0, timeout=60)
        await asyncio.sleep(4)  # more than a report of the broker's, and than STILL_WAITING_S
        assert not run_.done(), "the run went on while its consumer was away"
        assert "Still waiting after" in caplog.text
        assert sink.queue.dropped == 0
        consumer.come_back()
        stats = await asyncio.wait_for(run_, 120)
        await sink.close()
        assert stats.readings > 2 * BROKER_QUEUE
        await wait_until(lambda: consumer.received == stats.readings, timeout=30)
        assert sink.queue.dropped == 0
    finally:
        run_.cancel()
        consumer.leave()


async def test_a_run_that_overran_its_consumer_says_what_the_broker_dropped(
        broker: stack.Server, topic_root: str, caplog: pytest.LogCaptureFixture) -> None:
    consumer = Consumer(broker.port, f"{topic_root}/readings/#")
    consumer.leave()
    sink = await MqttSink.connect(backfill(broker.port, topic_root, 10**9))
    stats = await simulate(backfill(broker.port, topic_root, 10**9), sink)
    assert sink.queue is not None
    queue = sink.queue
    await wait_until(lambda: (queue.dropped or 0) >= stats.readings - BROKER_QUEUE, timeout=10)
    with caplog.at_level(logging.WARNING, logger="simulator.broker_queue"):
        await sink.close()
    assert f"dropped {queue.dropped} messages during this run" in caplog.text
    consumer.come_back()
    await wait_until(lambda: consumer.received + (queue.dropped or 0) == stats.readings,
                     timeout=30)
    consumer.leave()
    assert consumer.received < stats.readings


async def test_a_broker_that_reports_no_queue_is_said_and_not_waited_for(
        tmp_path: Path, topic_root: str, caplog: pytest.LogCaptureFixture) -> None:
    quiet = require_server(stack.start_mosquitto, tmp_path / "quiet", stack.free_port(),
                           extra=("sys_interval 0",))  # 0: no $SYS tree at all
    try:
        with caplog.at_level(logging.WARNING, logger="simulator.broker_queue"):
            sink = await MqttSink.connect(backfill(quiet.port, topic_root, 1000))
        assert sink.queue is None
        assert "reports no queue depth" in caplog.text
        await sink.close()
    finally:
        quiet.stop()
