"""The fleet: schedule, ordering, counters and encoding of the message stream."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime

import numpy as np
import pytest

from simulator.city import default_city
from simulator.fleet import Fleet
from urbanpulse.kinds import get_kind
from urbanpulse.kinds.modelling import FloatArray, IndexArray, Seconds
from urbanpulse.kinds.noise.model import NoiseModel
from urbanpulse.messages import birth_decoder, encoder, reading_decoder
from urbanpulse.topics import Channel, parse

START = int(datetime(2025, 11, 24, tzinfo=UTC).timestamp())
HOUR = 3600


def test_births_cover_every_sensor_once_in_id_order() -> None:
    city = default_city(seed=2)
    fleet = Fleet(city, seed=2, root="town")
    births = list(fleet.births(START * 1000))
    assert len(births) == len(city)
    ids = []
    for topic, payload in births:
        birth = birth_decoder.decode(payload)
        parsed = parse(topic)
        assert parsed.root == "town"
        assert parsed.channel is Channel.SENSORS
        assert (parsed.district, parsed.kind, parsed.sensor) == (birth.district, birth.kind,
                                                                 birth.sensor)
        assert birth.ts == START * 1000
        ids.append(birth.sensor)
    assert ids == sorted(spec.sensor for spec in city)
    spec = next(s for s in city if s.kind == "parking")
    topic = f"town/sensors/{spec.district}/parking/{spec.sensor}"
    birth = birth_decoder.decode(dict(births)[topic])
    assert (birth.lat, birth.lon, birth.site, birth.zone) == (spec.lat, spec.lon, spec.site,
                                                              spec.zone)
    assert birth.attributes == spec.attributes
    assert birth.interval_s == spec.interval_s


def test_each_sensor_reports_once_per_interval_with_a_counting_seq() -> None:
    city = default_city(seed=4)
    fleet = Fleet(city, seed=4)
    seen: dict[str, list[tuple[int, int]]] = defaultdict(list)
    order = []
    for t, messages in fleet.ticks(START, START + 2 * HOUR):
        assert START <= t < START + 2 * HOUR
        for topic, payload in messages:
            reading = reading_decoder.decode(payload)
            parsed = parse(topic)
            assert parsed.channel is Channel.READINGS
            assert (parsed.district, parsed.kind, parsed.sensor) == (reading.district,
                                                                     reading.kind, reading.sensor)
            assert reading.ts == t * 1000
            seen[reading.sensor].append((reading.ts, reading.seq))
            order.append((reading.ts, reading.sensor))
    assert order == sorted(order)
    assert set(seen) == {spec.sensor for spec in city}
    for spec in city:
        stamps = seen[spec.sensor]
        assert [seq for _, seq in stamps] == list(range(len(stamps)))
        if spec.poll_s:  # bays, covers: a startup message, then changes (or a heartbeat) only
            assert START * 1000 <= stamps[0][0] < (START + spec.step_s) * 1000
            assert all((b[0] - a[0]) % (spec.step_s * 1000) == 0
                       for a, b in itertools.pairwise(stamps))
            continue
        assert len(stamps) == 2 * HOUR // spec.interval_s
        assert [seq for _, seq in stamps] == list(range(len(stamps)))
        assert START * 1000 <= stamps[0][0] < (START + spec.interval_s) * 1000
        gaps = {b[0] - a[0] for a, b in itertools.pairwise(stamps)}
        assert gaps == {spec.interval_s * 1000}


def test_phases_spread_the_readings_over_the_interval() -> None:
    fleet = Fleet(default_city(scale=5, seed=8), seed=8)
    seconds = {t - START for t, _ in fleet.ticks(START, START + 60)}
    assert len(seconds) > 40


def test_same_seed_same_stream_other_seed_other_phases() -> None:
    city = default_city(seed=1)

    def stream(seed: int) -> list[tuple[int, list[tuple[str, bytes]]]]:
        return list(Fleet(city, seed=seed).ticks(START, START + 900))

    assert stream(1) == stream(1)
    assert [t for t, _ in stream(1)] != [t for t, _ in stream(2)]


def test_duplicate_sensor_ids_are_refused() -> None:
    city = default_city(seed=1)
    with pytest.raises(ValueError, match="used twice"):
        Fleet([*city, city[0]], seed=1)


def test_unending_ticks_go_on_for_days() -> None:
    slow = [spec for spec in default_city(seed=1) if spec.kind in {"energy", "water"}]
    ticks = Fleet(slow, seed=1).ticks(START)
    readings = 0
    for t, messages in ticks:  # pragma: no branch - the generator never ends
        readings += len(messages)
        if t >= START + 3 * 86_400:
            break
    per_day = sum(86_400 // spec.interval_s for spec in slow)
    assert 3 * per_day <= readings <= 3 * per_day + len(slow)


def test_readings_are_the_bytes_the_encoder_gives_their_message() -> None:
    """Spliced readings (prefix, ts, seq, values) match `encoder.encode`, NaN values left out."""
    fleet = Fleet(default_city(seed=6), seed=6)
    sparse = 0
    for _, messages in fleet.ticks(START, START + HOUR):
        for _, payload in messages:
            reading = reading_decoder.decode(payload)
            assert encoder.encode(reading) == payload
            sparse += len(reading.values) < len(get_kind(reading.kind).metrics)
    assert sparse > 100  # report-on-change readings, with some metrics left out, were among them


def test_a_kind_steps_a_window_at_a_time_each_sensor_at_its_own_second(
        monkeypatch: pytest.MonkeyPatch) -> None:
    city = default_city(scale=5, seed=3)
    noise = sorted((spec for spec in city if spec.kind == "noise"), key=lambda s: s.sensor)
    calls: list[tuple[list[int], list[int]]] = []
    step = NoiseModel.step

    def recorded(model: NoiseModel, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        calls.append((np.broadcast_to(t, idx.shape).tolist(), idx.tolist()))
        return step(model, t, idx)

    monkeypatch.setattr(NoiseModel, "step", recorded)
    fleet = Fleet(city, seed=3)
    due: dict[str, list[int]] = defaultdict(list)
    for t, messages in fleet.ticks(START, START + 2 * HOUR):
        for topic, _ in messages:
            if parse(topic).kind == "noise":
                due[parse(topic).sensor].append(t)
    span = min(spec.step_s for spec in noise)
    assert len(calls) <= 2 * HOUR // span + 2
    stepped: dict[str, list[int]] = defaultdict(list)
    for seconds, idx in calls:
        assert len(set(idx)) == len(idx)  # each sensor once
        assert len({second // HOUR for second in seconds}) == 1  # within one hour
        assert max(seconds) - min(seconds) < span
        assert sorted(zip(seconds, idx, strict=True)) == list(zip(seconds, idx, strict=True))
        for second, local in zip(seconds, idx, strict=True):
            stepped[noise[local].sensor].append(second)
    assert stepped == due  # every sensor reported at the seconds it was stepped at
    assert max(len(idx) for _, idx in calls) > len(noise) / 2  # not a second at a time


def test_the_stream_does_not_depend_on_where_it_ends() -> None:
    city = default_city(seed=2)
    longer = list(Fleet(city, seed=2, fault_rate=4.0).ticks(START, START + HOUR))
    shorter = list(Fleet(city, seed=2, fault_rate=4.0).ticks(START, START + 1234))
    assert shorter == [(t, messages) for t, messages in longer if t < START + 1234]


def test_faults_leave_the_readings_of_the_sensors_they_miss_as_they_were() -> None:
    """Windows do not move with episodes: a faulty run draws the same world as a clean one."""
    city = default_city(seed=9)

    def readings(fleet: Fleet) -> tuple[dict[str, list[bytes]], set[str]]:
        by_sensor: dict[str, list[bytes]] = defaultdict(list)
        struck = set()
        for _, messages in fleet.ticks(START, START + 6 * HOUR):
            for topic, payload in messages:
                parsed = parse(topic)
                if parsed.channel is Channel.TRUTH:
                    struck.add(parsed.sensor)
                else:
                    by_sensor[parsed.sensor].append(payload)
        return by_sensor, struck

    clean, _ = readings(Fleet(city, seed=9))
    faulty, struck = readings(Fleet(city, seed=9, fault_rate=6.0))
    assert len(struck) > 20
    spared = set(clean) - struck
    assert len(spared) > 50
    assert {sensor: faulty[sensor] for sensor in spared} == {
        sensor: clean[sensor] for sensor in spared}
