"""Faults and incidents: each appears in the stream where and when its ground truth says."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np
import pytest

from ingest.decode import REASONS, Decoder
from simulator.city import default_city
from simulator.episodes import Injector
from simulator.faults import (
    FAULTS,
    VALUE_FAULTS,
    check_faults,
    draw_faults,
    struck_metrics,
    value_effects,
)
from simulator.fleet import Fleet
from simulator.parts import simulated
from simulator.scenarios import Incident, anchored, check_filters, load_scenario
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import Metric, SensorKind, get_kind, register, unregister
from urbanpulse.kinds.incidents import Episode
from urbanpulse.kinds.modelling import FloatArray
from urbanpulse.messages import Reading, Truth, truth_decoder
from urbanpulse.topics import Channel, parse

START = 1_793_577_600  # 2026-11-02 00:00 UTC, a Monday
ON_CHANGE = {spec.sensor for spec in default_city(seed=7) if spec.poll_s}
"""The sensors of the faulty run's city that report on change (bays, covers)."""


@dataclass
class Stream:
    """A run's truths and, per sensor, its readings (in arrival order) and unreadable payloads."""

    truths: list[Truth] = field(default_factory=list)
    readings: dict[str, list[tuple[int, Reading]]] = field(
        default_factory=lambda: defaultdict(list))
    rejected: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))


def run(fleet: Fleet, hours: float, start: int = START) -> Stream:
    decoder = Decoder(root="city", max_payload_bytes=16_384, max_future_s=10**9,
                      max_age_s=10**9)
    stream = Stream()
    for t, messages in fleet.ticks(start, start + hours * 3600):
        for topic, payload in messages:
            parsed = parse(topic)
            if parsed.channel is Channel.TRUTH:
                stream.truths.append(truth_decoder.decode(payload))
                continue
            result = decoder.reading(topic, payload, t * 1000)
            if isinstance(result, Reading):
                stream.readings[parsed.sensor].append((t, result))
            else:
                stream.rejected[parsed.sensor].append((t, result.reason))
    return stream


@pytest.fixture(scope="module")
def faulty() -> Stream:
    city = default_city(seed=7)
    return run(Fleet(city, seed=7, fault_rate=8.0), 6)


def within(truth: Truth, t: int) -> bool:
    return truth.start <= t * 1000 and (truth.end is None or t * 1000 < truth.end)


def alone(stream: Stream, types: set[str]) -> list[Truth]:
    """Return the truths of `types` whose sensor had no other episode overlapping them."""
    def overlap(a: Truth, b: Truth) -> bool:
        a_end, b_end = a.end or 2**62, b.end or 2**62
        return a.start < b_end and b.start < a_end

    return [truth for truth in stream.truths if truth.type in types and not any(
        other is not truth and other.sensor == truth.sensor and overlap(truth, other)
        for other in stream.truths)]


def test_every_fault_type_is_injected_and_announced(faulty: Stream) -> None:
    types = {truth.type for truth in faulty.truths}
    assert types >= set(FAULTS) - {"battery-decay"}
    assert all(truth.detail["source"] == "fault" for truth in faulty.truths)


def test_dropouts_and_offline_periods_are_silent(faulty: Stream) -> None:
    checked = 0
    for truth in faulty.truths:
        if truth.type in ("dropout", "offline"):  # silence wins over any other fault
            times = [t for t, _ in faulty.readings[truth.sensor]]
            assert not any(within(truth, t) for t in times), truth
            checked += 1
    assert checked >= 5


def test_stuck_sensors_repeat_their_values(faulty: Stream) -> None:
    checked = 0
    for truth in alone(faulty, {"stuck"}):
        if truth.type == "stuck":
            instrument = truth.detail.get("instrument")
            held = struck_metrics(get_kind(truth.kind))[
                None if instrument is None else str(instrument)]
            inside = [{k: v for k, v in r.values.items() if k in held}
                      for t, r in faulty.readings[truth.sensor] if within(truth, t)]
            if len(inside) >= 2 and truth.kind != "energy":
                assert all(values == inside[0] for values in inside), truth
                checked += 1
    assert checked >= 1


def test_duplicates_repeat_a_seq_and_out_of_order_arrives_late(faulty: Stream) -> None:
    seen = {"duplicate": 0, "out-of-order": 0}
    for truth in alone(faulty, set(seen)):
        seqs = [r.seq for t, r in faulty.readings[truth.sensor] if within(truth, t)]
        if truth.type == "duplicate" and seqs:
            assert len(seqs) > len(set(seqs)), truth
            seen["duplicate"] += 1
        elif truth.type == "out-of-order" and len(seqs) >= 3:
            assert any(b < a for a, b in itertools.pairwise(seqs)), truth
            seen["out-of-order"] += 1
    assert min(seen.values()) >= 1


def test_malformed_payloads_are_dead_lettered_and_skewed_clocks_are_off(faulty: Stream) -> None:
    malformed = alone(faulty, {"malformed"})
    assert malformed
    answered = 0
    for truth in malformed:
        reasons = [reason for t, reason in faulty.rejected[truth.sensor] if within(truth, t)]
        assert reasons or truth.sensor in ON_CHANGE, truth  # a quiet one had nothing to send
        assert set(reasons) <= {"malformed-json", "non-finite", "schema"} <= set(REASONS)
        answered += bool(reasons)
    every = [truth for truth in faulty.truths if truth.type == "malformed"]
    assert answered <= sum(len(v) for v in faulty.rejected.values()) <= len(every)
    assert answered >= len([truth for truth in malformed if truth.sensor not in ON_CHANGE])
    for truth in alone(faulty, {"clock-skew"}):
        for t, reading in faulty.readings[truth.sensor]:
            if within(truth, t):
                assert reading.ts - t * 1000 == int(truth.detail["skew_s"]) * 1000


def test_meter_resets_and_rollovers_make_registers_fall(faulty: Stream) -> None:
    checked = 0
    for truth in faulty.truths:
        if truth.type in ("meter-reset", "meter-rollover"):
            assert truth.end is None
            names = [name for name, metric in get_kind(truth.kind).metrics.items()
                     if metric.cumulative]
            assert names, truth
            for name in names:
                registers = [(t, r.values[name]) for t, r in faulty.readings[truth.sensor]
                             if name in r.values]
                before = [v for t, v in registers if t * 1000 < truth.start]
                after = [v for t, v in registers if t * 1000 >= truth.start]
                if before and after:
                    assert after[0] < before[-1], (truth, name)
                    checked += 1
    assert checked >= 1


def test_faults_are_off_by_default_and_drawn_per_day() -> None:
    city = default_city(seed=7)
    clean = run(Fleet(city, seed=7), 2)
    assert not clean.truths
    assert not clean.rejected
    energy = [spec for spec in city if spec.kind == "energy"]
    day = START // 86_400
    kind = get_kind("energy")
    assert draw_faults(7, kind, day, energy, 2.0) == draw_faults(7, kind, day, energy, 2.0)
    assert draw_faults(7, kind, day, energy, 0.0) == []


def test_faults_strike_the_kinds_their_specs_name_and_the_sensors_the_model_allows() -> None:
    city = default_city(seed=7)
    day = START // 86_400
    for name in ("air", "energy", "noise", "parking", "water"):
        kind = get_kind(name)
        members = [spec for spec in city if spec.kind == name]
        targets = simulated(name).fault_targets
        drawn = [e for d in range(day, day + 20)
                 for e in draw_faults(7, kind, d, members, 3.0, targets)]
        assert {episode.type for episode in drawn} == set(kind.faults), name
        for episode in drawn:
            if episode.type in targets:
                assert targets[episode.type](members[episode.local])


def test_a_value_fault_strikes_one_instrument_and_leaves_the_others_alone() -> None:
    city = default_city(seed=7)
    air = get_kind("air")
    members = [spec for spec in city if spec.kind == "air"]
    day = START // 86_400
    drawn = [e for d in range(day, day + 10) for e in draw_faults(7, air, d, members, 3.0)]
    struck = {str(e.detail["instrument"]) for e in drawn if e.type in VALUE_FAULTS}
    assert struck == {metric.instrument for metric in air.metrics.values()}
    assert not any("instrument" in e.detail for e in drawn if e.type not in VALUE_FAULTS)
    # The instruments have a stream of their own: the faults are those of the same kind
    # declared as one instrument, only their detail names the instrument.
    whole = dataclasses.replace(air, metrics={
        name: dataclasses.replace(metric, instrument="") for name, metric in air.metrics.items()})
    alone = [e for d in range(day, day + 10) for e in draw_faults(7, whole, d, members, 3.0)]
    assert drawn == alone
    assert not any("instrument" in e.detail for e in alone)

    reading = {"pm25": 40.0, "pm10": 70.0, "no2": 30.0, "temperature": 20.0,
               "relative_humidity": 60.0}
    bias = Episode(0, "s", "bias", 0, 3600, {"factor": 1.5, "instrument": "thermo-hygrometer"})
    value_effects(air)["bias"](bias, 60, reading, {})
    assert reading == {"pm25": 40.0, "pm10": 70.0, "no2": 30.0, "temperature": 30.0,
                       "relative_humidity": 90.0}
    stuck = Episode(0, "s", "stuck", 0, 3600, {"instrument": "particulate"})
    effects = value_effects(air)
    memory: dict[int, dict[str, float]] = {}
    effects["stuck"](stuck, 0, {"pm25": 40.0, "pm10": 70.0, "no2": 30.0}, memory)
    later = {"pm25": 80.0, "pm10": 90.0, "no2": 50.0}
    effects["stuck"](stuck, 60, later, memory)
    assert later == {"pm25": 40.0, "pm10": 70.0, "no2": 50.0}


def test_a_spec_naming_an_unknown_fault_stops_at_start_up() -> None:
    register(SensorKind(name="teapot", title="Teapot", description="A teapot", interval_s=60,
                        fiware_type="Device", faults=frozenset({"stuck", "gremlins"}),
                        metrics={"temp": Metric("temp", "°C", 0, 100, "Tea temperature")}))
    try:
        with pytest.raises(ConfigError, match="'teapot' lists the unknown fault type 'gremlins'"
                                              r" in SPEC.faults; known fault types are stuck, "):
            check_faults()
    finally:
        unregister("teapot")
    check_faults()


def test_shipped_scenario_incidents_show_in_the_stream_where_truth_says() -> None:
    city = default_city(seed=3)
    evening = START + 12 * 3600  # 20:00 in Shanghai: the construction night starts at +2 h
    base = run(Fleet(city, seed=3), 10, evening)
    stream = run(Fleet(city, seed=3, incidents=load_scenario("incidents")), 10, evening)
    kinds = {truth.type: truth.kind for truth in stream.truths}
    assert kinds == {"pollution-episode": "air", "sewage-discharge": "water",
                     "venue-event": "parking", "hvac-holiday": "energy",
                     "night-construction": "noise", "backhaul-outage": "air"}

    def middle(s: Stream, truth: Truth, metric: str) -> float:
        mid = (truth.start + (truth.end or truth.start)) / 2000
        values = [r.values[metric] for t, r in s.readings[truth.sensor]
                  if abs(t - mid) < 3600 and metric in r.values]
        return sum(values) / len(values)

    for truth in stream.truths:
        if truth.type == "pollution-episode":
            assert middle(stream, truth, "pm25") > 2 * middle(base, truth, "pm25")
        elif truth.type == "sewage-discharge":
            assert middle(stream, truth, "nh3_n") > middle(base, truth, "nh3_n") + 2
            assert middle(stream, truth, "dissolved_oxygen") < middle(
                base, truth, "dissolved_oxygen")
        elif truth.type == "venue-event" and "device" not in truth.detail:
            lots = [r.values["occupancy"] for t, r in stream.readings[truth.sensor]
                    if "occupancy" in r.values and within(truth, t - 1800)
                    and within(truth, t)]
            assert not lots or min(lots) >= 0.85
        elif truth.type == "night-construction":
            night = [(r.values["laeq"], b.values["laeq"]) for (t, r), (_, b) in zip(
                stream.readings[truth.sensor], base.readings[truth.sensor], strict=True)
                if within(truth, t) and (t // 3600 + 8) % 24 in (1, 2, 3)]
            assert night
            assert all(loud >= quiet + 10 for loud, quiet in night)
        elif truth.type == "backhaul-outage":  # a network incident: nothing arrives
            assert truth.detail == {"source": "incident", "cause": "backhaul-huangpu"}
            assert base.readings[truth.sensor]
            assert not [t for t, _ in stream.readings[truth.sensor] if within(truth, t)]


def test_a_bad_scenario_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nincidents:\n  - {type: venue-event, at: 1h, duration: 2h}\n"
                    "  - {type: alien-landing, at: 1h, duration: 2h}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml, line 4: unknown incident type "
                                          r"'alien-landing'; known are the incidents "
                                          r"[a-z-]+(, [a-z-]+)*, and with a kind the "
                                          r"network's backhaul-outage and the device faults "):
        load_scenario(str(path))
    path.write_text("incidents:\n  - {type: venue-event, at: 2h15m, duration: 1h}\n")
    with pytest.raises(ConfigError, match=r"line 2: '2h15m' is not a duration like 90s"):
        load_scenario(str(path))
    path.write_text("incidents:\n  - {type: venue-event, at: 1h, duration: soon}\n")
    with pytest.raises(ConfigError, match="'soon' is not a duration"):
        load_scenario(str(path))
    with pytest.raises(ConfigError, match="No scenario 'nope'"):
        load_scenario("nope")
    assert msgspec.json.decode(b"1") == 1


@pytest.mark.parametrize(("entry", "problem"), [
    ("{type: offline, at: 1h, duration: 2h}", r"line 3: the device fault 'offline' needs a "
                                              r"`kind` to strike; known kinds are air, "),
    ("{type: offline, kind: aire, at: 1h, duration: 2h}", r"line 3: unknown kind 'aire'"),
    ("{type: meter-reset, kind: air, at: 1h, duration: 2h}",
     r"line 3: kind 'air' does not suffer the fault 'meter-reset'; its faults are bias, "),
])
def test_a_scenario_fault_names_a_kind_that_suffers_it(tmp_path: Path, entry: str,
                                                       problem: str) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(f"name: faults\nincidents:\n  - {entry}\n")
    with pytest.raises(ConfigError, match=problem):
        load_scenario(str(path))


def test_a_scenario_fault_strikes_the_matching_sensors_of_its_kind_as_a_fault(
        tmp_path: Path) -> None:
    path = tmp_path / "outage.yaml"
    path.write_text("incidents:\n  - {type: offline, kind: air, district: pudong, at: 1h, "
                    "duration: 2h}\n  - {type: spike, kind: water, at: 30m, duration: 10m, "
                    "count: 1}\n")
    specs = default_city(seed=1)
    fleet = Fleet(specs, seed=1, incidents=load_scenario(str(path)))
    start = 1_767_225_600
    sent = [(t, parse(topic), payload) for t, messages in fleet.ticks(start, start + 3 * 3600)
            for topic, payload in messages]
    truths = [truth_decoder.decode(payload) for _, topic, payload in sent
              if topic.channel is Channel.TRUTH]
    offline = {truth.sensor for truth in truths if truth.type == "offline"}
    assert offline == {s.sensor for s in specs if s.kind == "air" and s.district == "pudong"}
    assert all(truth.detail["source"] == "fault" for truth in truths)
    assert all(truth.end is not None and truth.end - truth.start == 7_200_000
               for truth in truths if truth.type == "offline")
    (spike,) = [truth for truth in truths if truth.type == "spike"]
    assert spike.kind == "water"
    assert spike.detail["factor"] == 5.0
    heard = {topic.sensor for t, topic, _ in sent
             if topic.channel is Channel.READINGS and start + 3600 <= t < start + 3 * 3600}
    assert offline
    assert not heard & offline


def test_entries_of_one_cause_announce_it_in_their_truth(tmp_path: Path) -> None:
    path = tmp_path / "storm.yaml"
    path.write_text("incidents:\n"
                    "  - {type: sewage-discharge, at: 10m, duration: 1h, cause: storm-0712}\n"
                    "  - {type: offline, kind: air, district: huangpu, at: 10m, duration: 1h,\n"
                    "     cause: storm-0712}\n"
                    "  - {type: venue-event, at: 10m, duration: 1h, site: lujiazui}\n")
    fleet = Fleet(default_city(seed=1), seed=1, incidents=load_scenario(str(path)))
    start = 1_767_225_600
    truths = [truth_decoder.decode(payload) for _, messages in fleet.ticks(start, start + 1800)
              for topic, payload in messages if parse(topic).channel is Channel.TRUTH]
    caused = {truth.type for truth in truths if truth.detail.get("cause") == "storm-0712"}
    assert caused == {"sewage-discharge", "offline"}
    assert all("cause" not in truth.detail for truth in truths if truth.type == "venue-event")
    path.write_text("incidents:\n  - {type: venue-event, at: 1h, duration: 2h, cause: Storm 1}\n")
    with pytest.raises(ConfigError, match=r"storm.yaml, line 2: Invalid cause id 'Storm 1'"):
        load_scenario(str(path))


def test_an_incident_filtering_on_an_unknown_district_or_site_is_a_config_error(
        tmp_path: Path) -> None:
    path = tmp_path / "where.yaml"
    path.write_text("incidents:\n  - {type: venue-event, at: 1h, duration: 2h, site: lujiazui}\n"
                    "  - {type: hvac-holiday, at: 1h, duration: 2h, district: atlantis}\n")
    incidents = load_scenario(str(path))
    check_filters(incidents[:1], {"pudong"}, {"lujiazui"})
    with pytest.raises(ConfigError, match=r"where.yaml, line 3: the incident hvac-holiday names "
                                          r"the unknown district 'atlantis'; the city has pudong"):
        check_filters(incidents, {"pudong"}, {"lujiazui"})
    with pytest.raises(ConfigError, match="unknown site 'lujiazui'"):
        check_filters(incidents[:1], {"pudong"}, {"the-bund"})


def test_the_storm_scenario_announces_its_chain_under_one_cause() -> None:
    fleet = Fleet(default_city(seed=5), seed=5, incidents=load_scenario("storm"))
    start = 1_782_864_000  # 2026-07-01 08:00 +08:00
    truths = [truth_decoder.decode(payload)
              for _, messages in fleet.ticks(start, start + 7 * 3600)
              for topic, payload in messages if parse(topic).channel is Channel.TRUTH]
    links = {(truth.kind, truth.type) for truth in truths
             if truth.detail.get("cause") == "storm-huangpu"}
    assert links == {("rain", "cloudburst"), ("ponding", "cloudburst-ponding"),
                     ("sewer", "sewer-surcharge"), ("manhole", "manhole-flooding"),
                     ("pump", "pump-discharge"), ("water", "sewage-discharge")}
    first = {kind: min(t.start for t in truths if t.kind == kind) for kind, _ in links}
    assert first["rain"] <= first["ponding"] < first["sewer"] < first["water"]


def test_faults_move_a_logarithmic_level_by_the_logarithm_of_their_factor() -> None:
    noise, water = get_kind("noise"), get_kind("water")
    bias = Episode(0, "s", "bias", 0, 3600, {"factor": 1.6})
    levels = {"laeq": 55.0, "lamax": 70.0}
    value_effects(noise)["bias"](bias, 60, levels, {})
    assert levels == pytest.approx({"laeq": 55 + 10 * math.log10(1.6),  # +2.0 dB, not x1.6
                                    "lamax": 70 + 10 * math.log10(1.6)})
    reading = {"ph": 7.5, "nh3_n": 0.5}
    value_effects(water)["bias"](bias, 60, reading, {})
    assert reading == pytest.approx({"ph": 7.5 - math.log10(1.6), "nh3_n": 0.8})


def test_an_anchored_scenario_counts_its_offsets_from_the_given_moment() -> None:
    origin = datetime(2026, 3, 2, tzinfo=UTC)
    fixed = datetime(2026, 3, 5, 6, tzinfo=UTC)
    incidents = [Incident("venue-event", "2h", 3600), Incident("venue-event", fixed, 3600)]
    assert [incident.at for incident in anchored(incidents, origin)] == [
        origin + timedelta(hours=2), fixed]


def test_a_change_inside_a_window_reaches_each_sensor_at_its_own_second() -> None:
    """A sensor stepping before an episode's start steps without it, one after with it."""
    def switch(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
        knobs["on"][episode.local] = 1.0 if starting else 0.0

    injector = Injector(3, {}, {"switch": switch}, {})
    injector.add([Episode(local, f"s{local}", "switch", start=30, end=end)
                  for local, end in ((0, None), (1, None), (2, 45))])
    knobs = {"on": np.zeros(3)}
    t, idx = np.array([10, 50, 40]), np.array([0, 1, 2])
    started = injector.window(0, 60, t, idx, knobs)
    assert [(second, episode.local) for second, episode in started] == [(30, 0), (30, 1),
                                                                        (30, 2)]
    assert knobs["on"].tolist() == [0.0, 1.0, 1.0]  # as at 10, 50 and 40
    assert injector.flagged.tolist() == [False, True, True]
    injector.settle(knobs)
    assert knobs["on"].tolist() == [1.0, 1.0, 0.0]  # as at 60: the third ended at 45
    assert injector.flagged.tolist() == [True, True, False]
    assert injector.window(60, 120, t + 60, idx, knobs) == []
