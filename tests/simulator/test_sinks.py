"""Sinks: JSON lines, memory, and MQTT against a real mosquitto."""

from __future__ import annotations

import asyncio
import json
import logging
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

from ingest.alerts.rules import load_rules
from ops import stack
from ops.score_run import ReplayStats, envelopes, replay
from simulator import faults
from simulator import publisher as publisher_module
from simulator.city import sensor_counts
from simulator.errors import SinkError
from simulator.profile import load_profile
from simulator.publisher import Publisher
from simulator.run import simulate
from simulator.sinks import JsonlSink, MemorySink, MqttSink, open_sink
from urbanpulse.errors import ConfigError
from urbanpulse.messages import reading_decoder, truth_decoder
from urbanpulse.settings import SimSettings

START = datetime(2025, 11, 24, tzinfo=UTC)
CELLS = len(sensor_counts(load_profile("shanghai")))
"""One sensor per kind and district: the smallest default city."""
FLEET = CELLS + 12


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
                           sim_seed=5, sim_sensors=FLEET, sim_client_id=f"sim-{topic_root}")
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
        await late.wait_for(FLEET)
    finally:
        late.stop()
    assert len(late.messages) == FLEET
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


def _strict_json(line: bytes) -> Any:
    """Parse one line as JSON the way jq does: NaN and Infinity are not JSON."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")
    return json.loads(line, parse_constant=refuse)


async def test_jsonl_sink_keeps_every_line_valid_whatever_the_payload(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    sink = JsonlSink(path)
    payloads = [b'{"v":1,"values":{"pm25":NaN}}', b'{"v":1,"sens', b"\xff\xfe binary",
                b'{"a":1}\n{"b":2}', b"not json at all", b'{"ok":true}']
    await sink.send_many([(f"city/readings/a/air/s{n}", p) for n, p in enumerate(payloads)],
                         retain=False)
    await sink.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == len(payloads)
    parsed = [_strict_json(line) for line in lines]
    assert parsed[0] == {"topic": "city/readings/a/air/s0", "retain": False,
                         "payload_text": '{"v":1,"values":{"pm25":NaN}}'}
    assert parsed[2]["payload_base64"] == "//4gYmluYXJ5"
    assert parsed[5]["payload"] == {"ok": True}
    assert [payload for _, payload in envelopes(path)] == payloads


def _is_malformed(payload: bytes) -> bool:
    """Tell a payload `faults.mangle` broke: not JSON, or a reading without values."""
    try:
        return not reading_decoder.decode(payload).values
    except msgspec.DecodeError:
        return True


async def test_a_faulty_run_writes_valid_json_lines_the_replay_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    values: dict[str, Any] = {"sim_speed": 0, "sim_duration_s": 6 * 3600, "sim_start": START,
                              "sim_seed": 3, "sim_sensors": CELLS, "sim_fault_rate": 60}
    memory = MemorySink()
    await simulate(sim_settings(**values), memory)
    sink = JsonlSink(path)
    stats = await simulate(sim_settings(**values), sink)
    await sink.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == stats.births + stats.readings + stats.truths
    for line in lines:
        _strict_json(line)
    assert list(envelopes(path)) == [(topic, payload or b"null")
                                     for topic, payload, _ in memory.messages]
    variants = {truth.detail["variant"] for truth in (
        truth_decoder.decode(payload) for topic, payload, _ in memory.messages
        if "/truth/" in topic) if truth.type == "malformed"}
    assert variants == set(faults.MALFORMED)
    malformed = sum(1 for topic, payload, _ in memory.messages
                    if "/readings/" in topic and _is_malformed(payload))
    assert malformed >= 5
    replayed = ReplayStats()
    replay(path, load_rules(None), max_future_s=7200, stats=replayed)
    assert replayed.rejected == malformed


@pytest.mark.services
async def test_simulators_without_a_client_id_do_not_collide(
        mosquitto: stack.Server, caplog: pytest.LogCaptureFixture) -> None:
    settings = sim_settings(mqtt_host="127.0.0.1", mqtt_port=mosquitto.port)
    first = await MqttSink.connect(settings)
    second = await MqttSink.connect(settings)
    try:
        assert first.client_id != second.client_id
        assert first.client_id.startswith("urbanpulse-sim-")
        for n in range(50):
            await first.send(f"sim-ids/a/{n}", b"{}", retain=False)
            await second.send(f"sim-ids/b/{n}", b"{}", retain=False)
        await asyncio.sleep(0.5)
    finally:
        await first.close(timeout_s=5)
        await second.close(timeout_s=5)
    assert first.reconnects == second.reconnects == 0
    assert "Lost the connection" not in caplog.text


@pytest.mark.services
async def test_a_taken_over_session_backs_off_and_says_so_once(
        mosquitto: stack.Server, caplog: pytest.LogCaptureFixture) -> None:
    first, second = (Publisher("127.0.0.1", mosquitto.port, client_id="sim-same-id")
                     for _ in range(2))
    await first.connect(5)
    await second.connect(5)  # takes the session over from the first
    messages = [(f"sim-same/{n}", b"{}") for n in range(10)]
    try:
        for _ in range(30):  # both keep publishing for 3 s, as two simulators would
            first.publish(messages, 0, False)
            second.publish(messages, 0, False)
            await asyncio.sleep(0.1)
    finally:
        await first.close()
        await second.close()
    # Without back-off the two took the session from each other thousands of times.
    assert 1 <= first.reconnects + second.reconnects <= 12
    taken = [r for r in caplog.records if "taken over" in r.getMessage()]
    assert 1 <= len(taken) <= 2  # once per simulator at most
    assert all("URBANPULSE_SIM_CLIENT_ID" in r.getMessage() for r in taken)
    assert sum(r.levelno >= logging.WARNING for r in caplog.records) <= 3 * len(taken) + 2


@pytest.mark.services
async def test_a_session_fight_ends_with_a_sentence_naming_the_setting(
        mosquitto: stack.Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publisher_module, "RECONNECT_TIMEOUT_S", 1.5)
    first, second = (Publisher("127.0.0.1", mosquitto.port, client_id="sim-fight")
                     for _ in range(2))
    await first.connect(5)
    await second.connect(5)
    errors: list[str] = []
    try:
        for _ in range(40):
            for publisher in (first, second):
                try:
                    publisher.publish([("sim-fight/t", b"{}")], 0, False)
                except SinkError as exc:
                    errors.append(str(exc))
            await asyncio.sleep(0.1)
    finally:
        await first.close()
        await second.close()
    assert errors, "neither publisher gave up"
    assert "same client id 'sim-fight'" in errors[0]
    assert "URBANPULSE_SIM_CLIENT_ID" in errors[0]


def test_a_run_line_with_broken_base64_is_named(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"topic":"city/readings/a/air/s","retain":false,"payload":{}}\n'
                     b'{"topic":"city/readings/a/air/s","retain":false,"payload_base64":"%%"}\n')
    with pytest.raises(ConfigError, match=r"run\.jsonl, line 2, has a payload_base64 that is "
                                          r"not base64\.$"):
        list(envelopes(path))


def test_run_files_with_raw_malformed_payloads_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"  # as the simulator wrote them before payload_text
    path.write_bytes(b'{"topic":"city/readings/a/air/s","retain":false,"payload":{"v":1,"se}\n')
    assert list(envelopes(path)) == [("city/readings/a/air/s", b'{"v":1,"se')]
