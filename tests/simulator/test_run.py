"""The simulate loop and the `urbanpulse sim` process entry point."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ops import stack
from ops.cli import main as cli_main
from simulator.city import default_city, sensor_counts
from simulator.profile import load_profile
from simulator.run import BACKFILL_CHUNK, main, simulate, start_time
from simulator.sinks import JsonlSink, MemorySink, Message
from urbanpulse.errors import ConfigError
from urbanpulse.messages import birth_decoder, reading_decoder
from urbanpulse.settings import SimSettings
from urbanpulse.topics import parse

START = datetime(2025, 11, 24, tzinfo=UTC)
START_S = 1_763_942_400
SENSORS = len(default_city(seed=42))
"""The sensors of the default city (shanghai at scale 1)."""
CELLS = len(sensor_counts(load_profile("shanghai")))
"""One sensor per kind and district: the fewest the default city can have."""


def settings(**overrides: Any) -> SimSettings:
    """Return unpaced one-hour settings at a fixed start, with `overrides`."""
    values: dict[str, Any] = {"sim_speed": 0, "sim_duration_s": 3600, "sim_start": START,
                              "sim_seed": 42, "topic_root": "city"}
    return SimSettings(**{**values, **overrides})


async def test_births_come_first_and_cover_every_sensor() -> None:
    sink = MemorySink()
    stats = await simulate(settings(sim_duration_s=600), sink)
    city = default_city(seed=42)
    births = sink.messages[:len(city)]
    assert all(retain for _, _, retain in births)
    assert not any(retain for _, _, retain in sink.messages[len(city):])
    assert {birth_decoder.decode(payload).sensor for _, payload, _ in births} == {
        spec.sensor for spec in city}
    assert all("/readings/" in topic for topic, _, _ in sink.messages[len(city):])
    assert (stats.sensors, stats.births) == (len(city), len(city))
    assert stats.readings == len(sink.messages) - len(city)
    assert (stats.simulated_s, stats.stopped) == (600, False)


async def test_readings_per_sensor_follow_duration_over_interval() -> None:
    sink = MemorySink()
    await simulate(settings(sim_duration_s=1800, topic_root="demo"), sink)
    counts: Counter[str] = Counter()
    last_seq: dict[str, int] = {}
    for topic, payload, _ in sink.messages:
        parsed = parse(topic)
        assert parsed.root == "demo"
        if parsed.channel.value != "readings":
            continue
        reading = reading_decoder.decode(payload)
        assert START_S * 1000 <= reading.ts < (START_S + 1800) * 1000
        assert reading.seq == last_seq.get(reading.sensor, -1) + 1
        last_seq[reading.sensor] = reading.seq
        counts[reading.sensor] += 1
    for spec in default_city(seed=42):
        if spec.poll_s:  # bays, covers: a startup message, then changes (or a heartbeat) only
            assert 1 <= counts[spec.sensor] <= 1800 // spec.step_s, spec.sensor
        else:
            assert counts[spec.sensor] == 1800 // spec.interval_s, spec.sensor


@pytest.mark.parametrize("options", [
    {},
    {"sim_city": "yancheng", "sim_scenario": "tinghu.yaml", "sim_fault_rate": 4.0,
     "sim_cadence": "real"},
])
async def test_same_seed_gives_a_byte_identical_stream(tmp_path: Path,
                                                       options: dict[str, Any]) -> None:
    if "sim_scenario" in options:
        scenario = tmp_path / options["sim_scenario"]
        scenario.write_text("incidents:\n"
                            "  - {type: venue-event, at: 0h, duration: 1h, district: tinghu}\n"
                            "  - {type: hvac-holiday, at: 10m, duration: 1d, count: 2}\n")
        options = {**options, "sim_scenario": str(scenario)}
    digests = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        path = tmp_path / f"{name}.jsonl"
        sink = JsonlSink(path)
        await simulate(settings(sim_seed=seed, sim_duration_s=1800, **options), sink)
        await sink.close()
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
        if options:
            assert b"/truth/" in path.read_bytes()
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


async def test_a_past_start_is_backfilled_unpaced_then_paced() -> None:
    now = int(time.time())
    sink = MemorySink()
    stats = await asyncio.wait_for(simulate(settings(
        sim_speed=1, sim_start=datetime.fromtimestamp(now - 3 * 3600, UTC),
        sim_duration_s=3 * 3600 - 60, sim_sensors=CELLS), sink), timeout=120)
    assert not stats.stopped
    readings = [reading_decoder.decode(p) for _, p, retain in sink.messages if not retain]
    assert len(readings) == stats.readings > 1000
    assert max(r.ts for r in readings) < (now - 60) * 1000


async def test_scale_and_sensors_settings_size_the_city() -> None:
    small, large = MemorySink(), MemorySink()
    await simulate(settings(sim_sensors=CELLS + 2, sim_duration_s=60), small)
    await simulate(settings(sim_scale=2, sim_duration_s=60), large)
    assert sum(1 for _, _, retain in small.messages if retain) == CELLS + 2
    assert sum(1 for _, _, retain in large.messages if retain) == 2 * SENSORS


async def test_speed_paces_simulated_time_against_the_clock() -> None:
    began = time.monotonic()
    stats = await simulate(settings(sim_speed=600, sim_duration_s=60, sim_backfill=False),
                           MemorySink())
    elapsed = time.monotonic() - began
    assert 0.09 <= elapsed < 3.0
    assert 0.09 <= stats.wall_s <= elapsed
    assert stats.readings > 100


async def test_stop_event_ends_an_endless_run() -> None:
    stop = asyncio.Event()

    class StoppingSink(MemorySink):
        async def send_many(self, messages: Sequence[Message], *, retain: bool) -> None:
            await super().send_many(messages, retain=retain)
            if len(self.messages) >= 1000:
                stop.set()

    sink = StoppingSink()
    stats = await asyncio.wait_for(
        simulate(settings(sim_duration_s=None), sink, stop=stop), timeout=30)
    assert stats.stopped
    # Backfill looks at `stop` between chunks: at most one chunk (and one tick) beyond.
    assert 1000 <= len(sink.messages) < 1000 + BACKFILL_CHUNK + 1000
    assert stats.simulated_s > 0


def test_start_time_reads_naive_as_utc_and_keeps_offsets() -> None:
    assert start_time(datetime(2025, 11, 24)) == START_S
    assert start_time(datetime(2025, 11, 24, 8, tzinfo=timezone(timedelta(hours=8)))) == START_S
    assert start_time(datetime(2025, 11, 24, 0, 0, 0, 900_000)) == START_S
    now = time.time()
    assert now - 2 <= start_time(None) <= now + 1


async def test_default_start_is_now() -> None:
    sink = MemorySink()
    before = int(time.time())
    # Two simulated seconds: a run to the broker from now goes on in real time.
    stats = await simulate(settings(sim_start=None, sim_duration_s=2), sink)
    assert before <= stats.start <= int(time.time())
    assert birth_decoder.decode(sink.messages[0][1]).ts == stats.start * 1000


def test_main_writes_jsonl_and_prints_a_summary(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.jsonl"
    assert main(settings(sim_output=f"jsonl:{path}", sim_duration_s=300)) == 0
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert sum(record["retain"] for record in records) == SENSORS
    summary = capsys.readouterr().err
    assert summary.startswith(f"urbanpulse sim done: {SENSORS} sensors, {SENSORS} births, ")
    cleans = sum(record["topic"].endswith("/clean") for record in records)
    assert cleans >= SENSORS  # a file tells the clean signal: a record opens each sensor's
    told = f"{len(lines) - SENSORS - cleans} readings, 0 truths, {cleans} clean records"
    assert told in summary


def test_main_exit_codes_for_bad_output_and_unreachable_broker(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(settings(sim_output="jsonl:")) == 2
    assert "needs a file path" in capsys.readouterr().err
    port = stack.free_port()
    assert main(settings(mqtt_host="127.0.0.1", mqtt_port=port)) == 1
    assert f"Cannot reach the MQTT broker at 127.0.0.1:{port}" in capsys.readouterr().err


SCRIPT = ("import sys; from simulator.run import main; from urbanpulse.settings import "
          "SimSettings; sys.exit(main(SimSettings()))")


def start_sim(tmp_path: Path, **variables: str) -> subprocess.Popen[str]:
    """Start `main` in a child process configured by URBANPULSE_ `variables` only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("URBANPULSE_")}
    env.update({f"URBANPULSE_{name.upper()}": value for name, value in variables.items()})
    return subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_process_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    path = tmp_path / "live.jsonl"
    process = start_sim(tmp_path, sim_output=f"jsonl:{path}", sim_speed="60")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not path.exists() or path.stat().st_size == 0):
            time.sleep(0.1)
        time.sleep(1.0)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert f"urbanpulse sim stopped: {SENSORS} sensors, {SENSORS} births" in stderr
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) > SENSORS
    assert not any(record["retain"] for record in records[SENSORS:])


def test_second_signal_abandons_a_flush_the_broker_never_acknowledges(
        tmp_path: Path, silent_broker: int) -> None:
    process = start_sim(tmp_path, mqtt_host="127.0.0.1", mqtt_port=str(silent_broker),
                        sim_speed="0", sim_max_inflight="50")
    try:
        time.sleep(2.0)
        assert process.poll() is None, "the simulator ended although nothing was acknowledged"
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None, "the first signal must wait for the flush"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert "interrupted twice" in stderr


async def test_a_run_to_a_broker_never_publishes_readings_from_the_future() -> None:
    class StampingSink(MemorySink):
        """Records how far each reading's ts is ahead of the wall clock when sent."""

        def __init__(self) -> None:
            super().__init__()
            self.ahead_ms: list[int] = []

        async def send_many(self, messages: Sequence[Message], *, retain: bool) -> None:
            now_ms = time.time() * 1000
            for _, payload in messages:
                if not retain and payload.startswith(b"{") and b'"ts":' in payload:
                    self.ahead_ms.append(int(json.loads(payload)["ts"] - now_ms))
            await super().send_many(messages, retain=retain)

    sink = StampingSink()
    start = datetime.fromtimestamp(int(time.time()), UTC)
    await simulate(settings(sim_start=start, sim_duration_s=4, sim_speed=1000, sim_output=None,
                            sim_scale=0.2), sink)
    assert sink.ahead_ms, "no reading was sent"
    assert max(sink.ahead_ms) <= 1000  # at most the tick's own rounding ahead


async def test_a_scenario_naming_a_district_the_city_lacks_stops_the_run() -> None:
    with pytest.raises(ConfigError, match=r"incidents.yaml, line \d+: the incident "
                                          r"pollution-episode names the unknown district 'pudong'"):
        await simulate(settings(sim_city="yancheng", sim_scenario="incidents",
                                sim_duration_s=60), MemorySink())


@pytest.mark.parametrize(("overrides", "message"), [
    ({"sim_city": "paris"}, "No city profile 'paris': give a file path or one of shanghai, "),
    ({"sim_city": "/etc/passwd"}, "/etc/passwd, line 1: the city profile must be a mapping"),
    ({"sim_scenario": "nope"}, "No scenario 'nope': give a file path or one of "),
    ({"sim_city": "yancheng", "sim_scenario": "incidents"},
     "the incident pollution-episode names the unknown district 'pudong'"),
])
def test_bad_files_are_reported_before_connecting_to_a_missing_broker(
        capsys: pytest.CaptureFixture[str], overrides: dict[str, Any], message: str) -> None:
    port = stack.free_port()  # nothing listens there

    assert main(settings(mqtt_host="127.0.0.1", mqtt_port=port, **overrides)) == 2

    err = capsys.readouterr().err
    assert message in err
    assert "Cannot reach" not in err


def test_a_warm_up_runs_before_the_start_and_the_scenario_counts_from_the_start(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("incidents:\n  - {type: venue-event, at: 30m, duration: 10m}\n")
    path = tmp_path / "run.jsonl"
    assert cli_main(["sim", "--seed", "3", "--sensors", "48", "--speed", "0",
                     "--start", "2026-03-02T00:00:00+08:00", "--warm-up", "2h",
                     "--duration", "1h", "--scenario", str(scenario),
                     "--output", f"jsonl:{path}"]) == 0
    assert "10800 simulated s from 2026-03-01T14:00:00Z" in capsys.readouterr().err
    records = [json.loads(line) for line in path.read_text().splitlines()]
    start = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000) - 8 * 3_600_000
    births = {record["payload"]["ts"] for record in records if record["retain"]}
    assert births == {start - 2 * 3_600_000}  # the warm-up's first second
    truths = [record["payload"] for record in records if "/truth/" in record["topic"]
              and not record["topic"].endswith("/clean")]
    assert truths
    assert {(truth["start"], truth["end"]) for truth in truths} == {
        (start + 30 * 60_000, start + 40 * 60_000)}  # 30 minutes after --start
