"""Sinks: JSON lines, memory, and MQTT against a real mosquitto."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ops import stack
from simulator.errors import SinkError
from simulator.run import simulate
from simulator.sinks import JsonlSink, MemorySink, MqttSink, open_sink
from urbanpulse.errors import ConfigError
from urbanpulse.messages import reading_decoder
from urbanpulse.settings import SimSettings

START = datetime(2025, 11, 24, tzinfo=UTC)


def sim_settings(**values: Any) -> SimSettings:
    """Build settings from keyword values (typed loosely: mypy sees no pydantic defaults)."""
    return SimSettings(**values)


class Line(msgspec.Struct, forbid_unknown_fields=True):
    """One line of a JsonlSink file, the payload kept as its raw bytes."""

    topic: str
    retain: bool
    payload: msgspec.Raw


async def test_jsonl_sink_splices_payloads_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    sink = JsonlSink(path)
    payload = b'{"v":1,"sensor":"air-pudong-0007","kind":"air","district":"pudong",' \
              b'"ts":1763779200000,"seq":3,"values":{"pm25":38.2}}'
    await sink.send("city/readings/pudong/air/air-pudong-0007", payload, retain=False)
    await sink.send("city/sensors/pudong/air/air-pudong-0007", b'{"a": [1, 2.50]}', retain=True)
    await sink.send("city/alerts/x", b"", retain=True)
    await sink.close()
    lines = path.read_bytes().splitlines()
    assert lines[0] == (b'{"topic":"city/readings/pudong/air/air-pudong-0007","retain":false,'
                        b'"payload":' + payload + b"}")
    first = msgspec.json.decode(lines[0], type=Line)
    assert bytes(first.payload) == payload
    assert reading_decoder.decode(first.payload).values == {"pm25": 38.2}
    assert json.loads(lines[1]) == {"topic": "city/sensors/pudong/air/air-pudong-0007",
                                    "retain": True, "payload": {"a": [1, 2.5]}}
    assert bytes(msgspec.json.decode(lines[1], type=Line).payload) == b'{"a": [1, 2.50]}'
    assert json.loads(lines[2])["payload"] is None
    assert len(lines) == 3


async def test_jsonl_sink_writes_stdout_for_dash(
        capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    sink = JsonlSink("-")
    await sink.send("city/readings/a/air/b", b"{}", retain=False)
    await sink.close()
    assert capsysbinary.readouterr().out == (
        b'{"topic":"city/readings/a/air/b","retain":false,"payload":{}}\n')


def test_jsonl_sink_names_a_path_it_cannot_open(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match=r"Cannot open the output file .*missing/out\.jsonl"):
        JsonlSink(tmp_path / "missing" / "out.jsonl")


async def test_memory_sink_records_messages() -> None:
    sink = MemorySink()
    await sink.send("t/1", b"a", retain=True)
    await sink.send("t/2", b"b", retain=False)
    await sink.close()
    assert sink.messages == [("t/1", b"a", True), ("t/2", b"b", False)]
    assert sink.closed


async def test_open_sink_follows_sim_output(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    sink = await open_sink(sim_settings(sim_output=f"jsonl:{path}"))
    assert isinstance(sink, JsonlSink)
    await sink.close()
    assert path.exists()
    assert isinstance(await open_sink(sim_settings(sim_output="-")), JsonlSink)
    with pytest.raises(ConfigError, match="needs a file path"):
        await open_sink(sim_settings(sim_output="jsonl:"))


async def test_unreachable_broker_is_a_clear_error() -> None:
    port = stack.free_port()
    settings = sim_settings(mqtt_host="127.0.0.1", mqtt_port=port)
    with pytest.raises(SinkError, match=f"Cannot reach the MQTT broker at 127.0.0.1:{port}"):
        await MqttSink.connect(settings)


async def test_close_names_what_the_broker_left_unacknowledged(silent_broker: int) -> None:
    settings = sim_settings(mqtt_host="127.0.0.1", mqtt_port=silent_broker, sim_max_inflight=3)
    sink = await MqttSink.connect(settings)
    for n in range(3):
        await sink.send(f"t/{n}", b"{}", retain=False)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(sink.send("t/3", b"{}", retain=False), 0.3)  # the window is full
    with pytest.raises(SinkError, match=r"^3 messages were still unacknowledged by the MQTT "
                                        rf"broker at 127\.0\.0\.1:{silent_broker} after 0\.5 s\.$"):
        await sink.close(timeout_s=0.5)
    assert sink.peak_inflight == 3


class Subscriber:
    """A paho-mqtt client collecting every message under a topic filter."""

    def __init__(self, port: int, topic_filter: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2,
                                   protocol=MQTTProtocolVersion.MQTTv5)
        self._client.on_connect = lambda client, *_: client.subscribe(topic_filter, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = lambda _c, _u, m: self.messages.append(
            (m.topic, bytes(m.payload), bool(m.retain)))
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        assert self._subscribed.wait(10), "the subscriber got no SUBACK"

    async def wait_for(self, count: int, *, within_s: float = 15.0) -> None:
        """Poll until `count` messages arrived or `within_s` passed (paho runs in a thread)."""
        deadline = time.monotonic() + within_s
        while len(self.messages) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.mark.services
async def test_mqtt_sink_delivers_everything_within_the_window(mosquitto: stack.Server,
                                                                topic_root: str) -> None:
    settings = sim_settings(mqtt_host="127.0.0.1", mqtt_port=mosquitto.port, topic_root=topic_root,
                           sim_max_inflight=5, sim_speed=0, sim_duration_s=600, sim_start=START,
                           sim_seed=5, sim_sensors=40, sim_client_id=f"sim-{topic_root}")
    expected = MemorySink()
    await simulate(settings, expected)
    subscriber = Subscriber(mosquitto.port, f"{topic_root}/#")
    try:
        sink = await MqttSink.connect(settings)
        assert sink.window == 5
        stats = await simulate(settings, sink)
        await sink.close()
        await subscriber.wait_for(len(expected.messages))
    finally:
        subscriber.stop()
    assert stats.births + stats.readings == len(expected.messages) > 200
    assert sink.peak_inflight == 5
    received = [(topic, payload) for topic, payload, _ in subscriber.messages]
    assert sorted(received) == sorted((topic, payload) for topic, payload, _ in expected.messages)
    seqs: dict[str, list[int]] = defaultdict(list)
    for topic, payload in received:
        if "/readings/" in topic:
            seqs[topic].append(reading_decoder.decode(payload).seq)
    assert all(seq == list(range(len(seq))) for seq in seqs.values())

    late = Subscriber(mosquitto.port, f"{topic_root}/sensors/#")
    try:
        await late.wait_for(40)
    finally:
        late.stop()
    assert len(late.messages) == 40
    assert all(retain for _, _, retain in late.messages)


@pytest.mark.services
async def test_mqtt_window_stays_under_the_broker_receive_maximum(mosquitto: stack.Server) -> None:
    settings = sim_settings(mqtt_host="127.0.0.1", mqtt_port=mosquitto.port,
                           sim_max_inflight=65535, sim_client_id="sim-receive-maximum")
    sink = await MqttSink.connect(settings)
    try:
        assert sink.window == 1000  # the test broker's max_inflight_messages is 1000
    finally:
        await sink.close()


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.fixture
def locked_broker(mosquitto: stack.Server, tmp_path: Path) -> Iterator[int]:
    """A second mosquitto that refuses anonymous clients; yields its port."""
    port = stack.free_port()
    config = tmp_path / "locked.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n")
    binary = stack.find_binary("mosquitto", "mosquitto")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _accepts(port):
            assert time.monotonic() < deadline, "the locked mosquitto did not start"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.services
async def test_refused_connection_is_a_clear_error(locked_broker: int) -> None:
    settings = sim_settings(mqtt_host="127.0.0.1", mqtt_port=locked_broker)
    with pytest.raises(SinkError, match=r"refused the connection: Not authorized\."):
        await MqttSink.connect(settings)
