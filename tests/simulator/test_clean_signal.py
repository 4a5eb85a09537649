"""The clean signal: what each sensor would report without sensor error and device faults."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops import stack
from ops.score_run import CleanSignal, envelopes, read_run
from simulator.city import default_city
from simulator.fleet import Fleet, Message
from simulator.parts import simulated
from simulator.profile import Climate
from simulator.run import main, prepare, simulate
from simulator.scenarios import Incident
from simulator.sinks import JsonlSink, MemorySink, MqttSink
from simulator.streams import random_stream
from simulator.workdays import Calendar, load_calendar
from tests.kinds.stormy import Device, Hour
from tests.simulator.test_sinks import CELLS, Subscriber, _strict_json
from urbanpulse.errors import TopicError
from urbanpulse.kinds.air.model import hygroscopic
from urbanpulse.kinds.modelling import CST, FloatArray, MeasuringModel
from urbanpulse.messages import Reading, reading_decoder
from urbanpulse.settings import SimSettings
from urbanpulse.topics import Channel, Topic, clean_subscription, clean_topic, parse

START = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
NIGHT = int(datetime(2026, 3, 3, 0, tzinfo=CST).timestamp())


names = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?\Z")


@given(root=names, district=names, kind=names, sensor=names)
def test_clean_topics_round_trip_under_the_truth_channel(root: str, district: str, kind: str,
                                                         sensor: str) -> None:
    text = clean_topic(district, kind, sensor, root=root)
    assert text == f"{root}/truth/{district}/{kind}/{sensor}/clean"
    parsed = parse(text)
    assert parsed == Topic(root, Channel.TRUTH, district=district, kind=kind, sensor=sensor,
                           clean=True)
    assert str(parsed) == text
    assert not parse(text.removesuffix("/clean")).clean  # the injected events' topic
    levels = clean_subscription(root=root).split("/")
    assert all(level in ("+", name) for level, name in zip(levels, text.split("/"),
                                                           strict=True))
    with pytest.raises(TopicError):
        parse(f"{text[:-5]}dirty")


@dataclass(frozen=True)
class StillAir:
    """A calm, dry-or-humid, sunless night: the weather of every hour."""

    humidity: float

    def at(self, t: int) -> Hour:
        return Hour(rain_mm_h=0.0, temperature=12.0, humidity=self.humidity, sun=0.0)


@dataclass(frozen=True)
class NightDrivers:
    """The drivers an air model reads, with a weather of fixed humidity."""

    weather: StillAir
    calendar: Calendar = field(default_factory=lambda: load_calendar("china"))
    pollution: float = 1.0
    climate: Climate = field(default_factory=Climate)


def night_of_air(humidity: float) -> tuple[dict[str, FloatArray], dict[str, FloatArray], int]:
    """Step ten low-cost then ten reference stations every minute of four night hours,
    then once a month later.

    Returns the measured and the clean values (metric → readings × stations) and where
    the reference stations begin.
    """
    stations = [Device(f"air-pudong-{i:04d}", "air", "urban",
                       attributes={"siting": "urban", "grade": grade})
                for i, grade in enumerate(["low-cost"] * 10 + ["reference"] * 10)]
    model = simulated("air").model(stations, random_stream(5, "air"),
                                   NightDrivers(StillAir(humidity)))
    assert isinstance(model, MeasuringModel)
    every = np.arange(len(stations), dtype=np.intp)
    steps = [model.measure(t, every) for t in [*range(NIGHT, NIGHT + 4 * 3600, 60),
                                                NIGHT + 30 * 86_400]]
    measured = {name: np.stack([s.measured[name] for s in steps]) for name in steps[0].measured}
    clean = {name: np.stack([s.clean[name] for s in steps]) for name in steps[0].clean}
    return measured, clean, 10


@pytest.mark.parametrize("humidity", [50.0, 92.0])
def test_low_cost_air_over_reads_pm_by_its_bias_and_the_humidity(humidity: float) -> None:
    measured, clean, reference = night_of_air(humidity)
    over = measured["pm25"] / clean["pm25"]
    grown = hygroscopic(measured["relative_humidity"])  # the humidity the station senses
    bias = np.median(over[:, :reference] / grown[:, :reference], axis=0)
    assert ((bias > 1.05) & (bias < 1.45)).all(), bias  # 1.1-1.4, with 10 % noise
    if humidity > 90:  # a humid night: low-cost PM2.5 three times and more the real one
        assert np.median(over[:, :reference]) > 3.0
    else:
        assert np.median(over[:, :reference]) < 1.5
    # Reference stations only add 3 % noise.
    assert abs(np.median(over[:, reference:]) - 1) < 0.01
    assert (measured["pm25"][:, reference:] != clean["pm25"][:, reference:]).mean() > 0.9
    # SO2 cells read 2-5 times high; NO2 drifts by 2-6 µg/m³ a month from the first reading.
    so2 = np.median(measured["so2"] / clean["so2"], axis=0)
    assert ((so2[:reference] > 1.9) & (so2[:reference] < 5.1)).all()
    drift = measured["no2"][:, :reference] - clean["no2"][:, :reference]
    assert (drift[0] == 0).all()
    assert ((drift[-1] > 1.9) & (drift[-1] < 6.1)).all(), drift[-1]
    for name in ("so2", "no2"):
        assert (measured[name][:, reference:] == clean[name][:, reference:]).all()
    # What the station does not mismeasure is the same.
    for name in ("co", "o3", "temperature", "relative_humidity"):
        assert (measured[name] == clean[name]).all(), name


def test_a_kind_without_sensor_error_only_steps() -> None:
    assert not isinstance(simulated("noise").model([], random_stream(1, "noise"),
                                                   NightDrivers(StillAir(80.0))),
                          MeasuringModel)


def messages(fleet: Fleet, hours: float) -> list[Message]:
    return [message for _, batch in fleet.ticks(START, START + hours * 3600)
            for message in batch]


def clean_records(stream: list[Message]) -> dict[tuple[str, int], Reading]:
    return {(r.sensor, r.seq): r for r in (reading_decoder.decode(payload)
                                           for topic, payload in stream if parse(topic).clean)}


def readings(stream: list[Message]) -> dict[tuple[str, int], list[Reading]]:
    found: dict[tuple[str, int], list[Reading]] = defaultdict(list)
    for topic, payload in stream:
        if parse(topic).channel is Channel.READINGS:
            try:
                reading = reading_decoder.decode(payload)
            except msgspec.DecodeError:
                continue
            found[reading.sensor, reading.seq].append(reading)
    return found


def test_readings_without_error_stand_for_themselves_after_their_opening_record() -> None:
    city = [spec for spec in default_city(seed=3) if spec.kind in ("water", "noise", "air")]
    stream = messages(Fleet(city, seed=3, clean_signal=True), 2)
    assert [m for m in stream if not parse(m[0]).clean] == messages(Fleet(city, seed=3), 2)
    records, sent = clean_records(stream), readings(stream)
    for spec in city:
        told = sorted(seq for sensor, seq in records if sensor == spec.sensor)
        if spec.kind == "air":  # it over-reads, or adds noise: mostly a record per reading
            seqs = {seq for sensor, seq in sent if sensor == spec.sensor}
            assert set(told) <= seqs
            assert len(told) > 0.9 * len(seqs)
        else:  # water and noise measure the world as it is: one record opens the signal
            assert told == [0]
            assert records[spec.sensor, 0] == sent[spec.sensor, 0][0]
    # Each record comes just before the reading it stands for.
    for before, after in itertools.pairwise(stream):
        if parse(before[0]).clean:
            record, reading = (reading_decoder.decode(p) for p in (before[1], after[1]))
            assert (reading.sensor, reading.seq, reading.ts) == (record.sensor, record.seq,
                                                                 record.ts)


def test_faults_leave_the_clean_signal_and_incidents_change_it() -> None:
    city = [spec for spec in default_city(seed=3) if spec.kind in ("water", "noise", "air")]
    water = next(s for s in city if s.kind == "water")
    noise = [s for s in city if s.kind == "noise"][:2]
    reference = next(s for s in city if s.attributes.get("grade") == "reference")
    incidents = [
        Incident("bias", "10m", 3 * 3600, sensors=(water.sensor,), kind="water"),
        Incident("offline", "10m", 3600, sensors=(noise[0].sensor,), kind="noise"),
        Incident("clock-skew", "10m", 3600, sensors=(noise[1].sensor,), kind="noise"),
        Incident("pollution-episode", "0s", 4 * 3600, sensors=(reference.sensor,))]
    stream = messages(Fleet(city, seed=3, clean_signal=True, incidents=incidents), 4)
    plain = messages(Fleet(city, seed=3, clean_signal=True), 4)
    records, sent = clean_records(stream), readings(stream)
    window = range((START + 600) * 1000, (START + 600 + 3600) * 1000)

    biased = [(record, sent[key][0]) for key, record in records.items()
              if key[0] == water.sensor and key[1] > 0]
    assert len(biased) >= 17  # every 10 minutes for 3 hours
    for record, reading in biased:  # the reading carries the bias (×1.4), the record not
        assert reading.values["conductivity"] == pytest.approx(
            1.4 * record.values["conductivity"], abs=1)
    silent = [r for (sensor, _), r in records.items() if sensor == noise[0].sensor
              and r.ts in window]
    assert len(silent) == 60  # one a minute while offline, though nothing is sent
    assert not any(r.ts in window for (sensor, _), batch in sent.items()
                   if sensor == noise[0].sensor for r in batch)
    skewed = [(record, sent[key][0]) for key, record in records.items()
              if key[0] == noise[1].sensor and record.ts in window]
    assert len(skewed) == 60
    assert all(reading.ts != record.ts and reading.values == record.values
               for record, reading in skewed)
    # A pollution episode raises the real PM2.5: up to three times at its height.
    episode = {r.ts: r.values["pm25"] for (sensor, _), r in records.items()
               if sensor == reference.sensor}
    calm = {r.ts: r.values["pm25"] for (sensor, _), r in clean_records(plain).items()
            if sensor == reference.sensor}
    height = [episode[ts] / calm[ts] for ts in episode if (START + 3600) * 1000 <= ts
              < (START + 3 * 3600) * 1000]
    assert height
    assert min(height) == pytest.approx(3.0, rel=0.02)


def sim_settings(**values: Any) -> SimSettings:
    """Build settings from keyword values (typed loosely: mypy sees no pydantic defaults)."""
    return SimSettings(**values)


async def test_a_faulty_run_with_its_clean_signal_stays_valid_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    settings = sim_settings(sim_speed=0, sim_duration_s=6 * 3600, sim_start=START, sim_seed=3,
                            sim_sensors=CELLS, sim_fault_rate=60)
    sink = JsonlSink(path)
    stats = await simulate(settings, sink, plan=prepare(settings, clean_signal=True))
    await sink.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == stats.births + stats.readings + stats.truths + stats.cleans
    assert stats.cleans > stats.sensors  # openings, and the faults' records
    for line in lines:
        _strict_json(line)
    assert read_run(path).cleans == stats.cleans
    signal = CleanSignal()
    picked = [found for topic, payload in envelopes(path)
              if (found := signal.pick(parse(topic), payload)) is not None]
    # A reading (each seq once) for every due sensor, in time order, none of it mangled.
    decoded = [reading_decoder.decode(payload) for _, payload in picked]
    assert [r.ts for r in decoded] == sorted(r.ts for r in decoded)
    assert len({(r.sensor, r.seq) for r in decoded}) == len(decoded) > stats.readings * 0.9


def test_files_tell_the_clean_signal_unless_told_not_to(tmp_path: Path) -> None:
    common: dict[str, Any] = {"sim_speed": 0, "sim_duration_s": 1800, "sim_start": START,
                              "sim_seed": 2, "sim_sensors": CELLS}
    told, untold = tmp_path / "told.jsonl", tmp_path / "untold.jsonl"
    assert main(sim_settings(**common, sim_output=f"jsonl:{told}")) == 0
    assert main(sim_settings(**common, sim_output=f"jsonl:{untold}"), clean_signal=False) == 0
    lines = told.read_bytes().splitlines()
    assert sum(b'/clean","retain":false' in line for line in lines) >= CELLS
    assert [line for line in lines if b'/clean"' not in line] == untold.read_bytes().splitlines()
    published = MemorySink()  # no --output: the run publishes, without its clean signal
    assert asyncio.run(simulate(sim_settings(**common), published)).cleans == 0
    assert [topic for topic, _, _ in published.messages if topic.endswith("/clean")] == []


@pytest.mark.services
async def test_the_clean_signal_reaches_a_subscriber_through_mosquitto(
        mosquitto: stack.Server, topic_root: str) -> None:
    settings = sim_settings(mqtt_host="127.0.0.1", mqtt_port=mosquitto.port,
                            topic_root=topic_root, sim_speed=0, sim_duration_s=1800,
                            sim_start=START, sim_seed=4, sim_sensors=CELLS, sim_fault_rate=20,
                            sim_client_id=f"sim-{topic_root}")
    expected = MemorySink()
    await simulate(settings, expected, plan=prepare(settings, clean_signal=True))
    records = [(topic, payload) for topic, payload, _ in expected.messages
               if topic.endswith("/clean")]
    assert len(records) > CELLS
    subscriber = Subscriber(mosquitto.port, clean_subscription(root=topic_root))
    try:
        sink = await MqttSink.connect(settings)
        stats = await simulate(settings, sink, plan=prepare(settings, clean_signal=True))
        await sink.close()
        await subscriber.wait_for(len(records))
    finally:
        subscriber.stop()
    assert stats.cleans == len(records)
    received = [(topic, payload) for topic, payload, _ in subscriber.messages]
    assert received == records  # in order: one publisher, QoS 1
    assert all(json.loads(payload)["sensor"] == parse(topic).sensor for topic, payload in received)
