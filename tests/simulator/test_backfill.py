"""Backfill: history sent in chunks is the stream the tick-by-tick path sends, byte for byte."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ops import stack
from simulator import run
from simulator.city import sensor_counts
from simulator.profile import load_profile
from simulator.run import SimStats, prepare, simulate
from simulator.sinks import JsonlSink, MemorySink, Message, MqttSink, Sink
from tests.simulator.test_sinks import Subscriber
from urbanpulse.settings import SimSettings

START = datetime(2025, 11, 24, tzinfo=UTC)
CELLS = len(sensor_counts(load_profile("shanghai")))
"""One sensor per kind and district: the smallest default city."""
CHUNK = 500
"""The chunk size the tests use, so that short runs are many chunks."""
SCENARIO = ("incidents:\n"
            "  - {type: hvac-holiday, at: 10m, duration: 1d, count: 2}\n"
            "  - {type: offline, kind: air, district: pudong, at: 30m, duration: 1h}\n")


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backfill in chunks of CHUNK messages."""
    monkeypatch.setattr(run, "BACKFILL_CHUNK", CHUNK)


def sim_settings(**values: Any) -> SimSettings:
    """Build settings from keyword values (typed loosely: mypy sees no pydantic defaults)."""
    return SimSettings(**values)


class Recording:
    """Passes messages on to `inner` and records how many each `send_many` call carried."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self.calls: list[int] = []

    async def send(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Send one message."""
        await self.send_many([(topic, payload)], retain=retain)

    async def send_many(self, messages: Sequence[Message], *, retain: bool) -> None:
        """Record the call's size, then send."""
        if not retain:
            self.calls.append(len(messages))
        await self.inner.send_many(messages, retain=retain)

    async def close(self) -> None:
        """Close the inner sink."""
        await self.inner.close()


def busy_morning(span_s: int) -> datetime:
    """Return the latest 10:00 in Shanghai (02:00 UTC) at least `span_s` ago.

    A run from it is all history and a busy morning whatever the clock says, so it
    carries several chunks of readings (from now back, the city may be asleep).
    """
    return datetime.fromtimestamp(
        (int(time.time()) - span_s - 2 * 3600) // 86_400 * 86_400 + 2 * 3600, UTC)


async def write(settings: SimSettings, path: Path,
                clean: bool = False) -> tuple[SimStats, list[int], str]:
    """Run to a JSON-lines file; return the stats, the reading calls' sizes and the digest.

    With `clean`, the run tells its sensors' clean signal too.
    """
    sink = Recording(JsonlSink(path))
    stats = await simulate(settings, sink, plan=prepare(settings, clean_signal=clean))
    await sink.close()
    return stats, sink.calls, digest(path)


def digest(path: Path) -> str:
    """Return the SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("options", "clean"), [
    ({}, False), ({"sim_fault_rate": 30.0, "sim_scenario": "s.yaml"}, False),
    ({"sim_fault_rate": 30.0, "sim_scenario": "s.yaml"}, True)])
async def test_backfill_writes_the_bytes_the_tick_by_tick_path_writes(
        tmp_path: Path, options: dict[str, Any], clean: bool) -> None:
    if options:
        (tmp_path / "s.yaml").write_text(SCENARIO)
        options = {**options, "sim_scenario": str(tmp_path / "s.yaml")}
    common: dict[str, Any] = {"sim_seed": 11, "sim_sensors": CELLS * 4, "sim_duration_s": 2 * 3600,
                              "sim_start": busy_morning(2 * 3600 + 600), **options}
    # Live path: no backfill, every tick paced (at a speed that never makes it sleep).
    live, live_calls, live_digest = await write(
        sim_settings(**common, sim_speed=1e9, sim_backfill=False), tmp_path / "live.jsonl",
        clean)
    # A past start's history, backfilled at speed 1; and a speed-0 run, all unpaced.
    for name, speed in (("history", 1.0), ("unpaced", 0.0)):
        stats, calls, digest = await write(sim_settings(**common, sim_speed=speed),
                                           tmp_path / f"{name}.jsonl", clean)
        assert digest == live_digest, name
        assert (stats.readings, stats.truths, stats.cleans, stats.simulated_s) == (
            live.readings, live.truths, live.cleans, live.simulated_s)
        assert len(calls) < len(live_calls) // 100
        assert max(calls) >= CHUNK
    assert live.readings > 2 * CHUNK  # the faulty runs lose some to outages
    if options:
        assert live.truths > 0
        assert b'"payload_text"' in (tmp_path / "live.jsonl").read_bytes()
    assert (live.cleans > live.sensors) is clean


async def test_a_stop_during_backfill_ends_after_a_whole_chunk() -> None:
    stop = asyncio.Event()
    whole = MemorySink()
    settings = sim_settings(sim_seed=4, sim_sensors=CELLS, sim_speed=0, sim_start=START,
                            sim_duration_s=3600)
    await simulate(settings, whole)

    class Stopping(MemorySink):
        async def send_many(self, messages: Sequence[Message], *, retain: bool) -> None:
            await super().send_many(messages, retain=retain)
            if not retain:
                stop.set()  # as a signal handler would, while the sink has the loop

    sink = Stopping()
    stats = await simulate(settings, sink, stop=stop)
    assert stats.stopped
    assert len(sink.messages) == stats.births + stats.readings + stats.truths
    assert CHUNK <= stats.readings < len(whole.messages) - stats.births
    assert sink.messages == whole.messages[:len(sink.messages)]
    last = max(int(payload.split(b'"ts":')[1].split(b",")[0])
               for topic, payload, _ in sink.messages if "/readings/" in topic)
    assert stats.simulated_s == last // 1000 - stats.start


@pytest.mark.services
async def test_backfill_to_the_broker_delivers_everything_within_the_window(
        mosquitto: stack.Server, topic_root: str) -> None:
    settings = sim_settings(mqtt_host="127.0.0.1", mqtt_port=mosquitto.port,
                            topic_root=topic_root, sim_max_inflight=20, sim_speed=1,
                            sim_start=busy_morning(3600),
                            sim_duration_s=3600 - 120, sim_seed=6, sim_sensors=CELLS * 2,
                            sim_client_id=f"sim-{topic_root}")
    expected = MemorySink()
    await simulate(settings.model_copy(update={"sim_backfill": False, "sim_speed": 1e9}),
                   expected)
    subscriber = Subscriber(mosquitto.port, f"{topic_root}/readings/#")
    try:
        mqtt = await MqttSink.connect(settings)
        sink = Recording(mqtt)
        stats = await simulate(settings, sink)
        await sink.close()
        await subscriber.wait_for(stats.readings, within_s=30)
    finally:
        subscriber.stop()
    assert max(sink.calls) >= CHUNK
    assert mqtt.peak_inflight == mqtt.window == 20
    readings = [(topic, payload) for topic, payload, _ in expected.messages
                if "/readings/" in topic]
    assert stats.readings == len(readings) > 2 * CHUNK
    received = [(topic, payload) for topic, payload, _ in subscriber.messages]
    assert sorted(received) == sorted(readings)
