"""`urbanpulse score`: scoring math, readers, and a seeded run replayed through the engine."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest

from api.errors import InfluxQueryError
from api.influx import FakeTransport, HttpxTransport, InfluxQuery, InfluxResponse
from ingest.alerts.engine import fingerprint
from ingest.alerts.rules import Rule, load_rules, rule_types
from ingest.points import alert_point
from ops import stack
from ops.cli import main
from ops.score import (
    BASES,
    OVERALL,
    SUBTOTAL,
    Basis,
    Episode,
    Evidence,
    RuleScore,
    Target,
    episodes,
    format_table,
    quantile,
    score,
)
from ops.score_basis import DEVICE_TYPES, TYPE_BASES, basis_of, targets
from ops.score_goal import report, unmet
from ops.score_influx import query_alerts
from ops.score_run import CleanSignal, read_alerts, read_run, replay
from simulator.faults import FAULTS
from urbanpulse import topics
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.network import NETWORK_INCIDENTS
from urbanpulse.kinds.rule import BaseRule
from urbanpulse.messages import Alert, AlertState, Truth, encoder
from urbanpulse.topics import Topic

M = 60_000  # one minute in ms
AIR = "air-pudong-000"


def _truth(sensor: str, kind: str, kind_of: str, start: int, end: int | None) -> Truth:
    return Truth(v=1, sensor=sensor, kind=kind, district="pudong", type=kind_of, start=start,
                 end=end, detail={"source": "fault"})


def _alert(state: AlertState, ts: int, since: int, rule: str = "pm25-high",
           sensor: str = "air-pudong-0001") -> Alert:
    return Alert(v=1, alert_id=fingerprint(rule, sensor), rule=rule, sensor=sensor, kind="air",
                 district="pudong", state=state, severity="medium", ts=ts, since=since,
                 message="pm25 high")


TARGETS = [Target("pm25-high", "air", frozenset({"pollution-episode"})),
           Target("air-district-stale", "air", frozenset({"offline"})),
           Target("custom", "air")]
TRUTHS = [
    _truth(f"{AIR}1", "air", "pollution-episode", 0, 60 * M),
    _truth(f"{AIR}2", "air", "pollution-episode", 100 * M, 160 * M),
    _truth(f"{AIR}3", "air", "offline", 200 * M, None),
    _truth("water-pudong-0001", "water", "sewage-discharge", 0, 60 * M),
    _truth(f"{AIR}4", "air", "pollution-episode", 300 * M, 310 * M),
]
EPISODES = [
    Episode("pm25-high", f"{AIR}1", "air", "pudong", 5 * M, 20 * M, 70 * M),  # T0, 1200 s
    Episode("pm25-high", f"{AIR}2", "air", "pudong", 95 * M, 95 * M),  # T1 within tolerance
    Episode("pm25-high", f"{AIR}2", "air", "pudong", 120 * M, 130 * M, 140 * M),  # T1 again
    Episode("pm25-high", f"{AIR}3", "air", "pudong", 200 * M, 215 * M),  # offline: not its type
    Episode("pm25-high", f"{AIR}1", "air", "pudong", 400 * M, 400 * M),  # nothing near
    Episode("air-district-stale", "district-pudong", "air", "pudong", 205 * M, 210 * M),
    Episode("custom", f"{AIR}3", "air", "pudong", 500 * M, 500 * M),  # any type, open truth
]


def test_score_gives_exact_precision_recall_false_alarms_and_delays() -> None:
    rows = {row.rule: row for row in score(TRUTHS, EPISODES, TARGETS,
                                           {"air": 4.0, "water": 1.0}, 10 * M)}
    assert list(rows) == ["pm25-high", "air-district-stale", "custom", SUBTOTAL, OVERALL]
    assert rows[SUBTOTAL].as_dict() | {"class": "incident"} == rows[OVERALL].as_dict() | {
        "rule": SUBTOTAL, "class": "incident"}  # one basis: its subtotal is the whole
    pm25 = rows["pm25-high"]
    assert (pm25.alerts, pm25.true_alerts, pm25.truths, pm25.detected) == (5, 3, 3, 2)
    assert pm25.precision == pytest.approx(0.6)
    assert pm25.recall == pytest.approx(2 / 3)
    assert pm25.false_alarms_per_sensor_day == pytest.approx(0.5)
    assert sorted(pm25.delays_s) == [0.0, 1200.0]  # T1: an alert already firing at its start
    assert pm25.delay_p50_s == pytest.approx(600)
    assert pm25.delay_p90_s == pytest.approx(1080)
    district = rows["air-district-stale"]
    assert (district.precision, district.recall, district.delays_s) == (1.0, 1.0, (600.0,))
    custom = rows["custom"]
    assert (custom.precision, custom.recall, custom.truths) == (1.0, None, 0)
    overall = rows["overall"]
    assert (overall.alerts, overall.true_alerts, overall.truths, overall.detected) == (7, 5, 4, 3)
    assert overall.recall == pytest.approx(0.75)
    assert overall.sensor_days == pytest.approx(4.0)  # only kinds that some rule watches
    assert overall.false_alarms_per_sensor_day == pytest.approx(0.5)
    assert overall.delay_p50_s == pytest.approx(600)
    assert overall.delay_p90_s == pytest.approx(1080)


def test_score_without_tolerance_misses_an_alert_just_before_the_truth() -> None:
    rows = {row.rule: row for row in score(TRUTHS, EPISODES[1:2], TARGETS[:1], {"air": 1.0}, 0)}
    assert (rows["pm25-high"].true_alerts, rows["pm25-high"].detected) == (0, 0)
    assert rows["pm25-high"].false_alarms_per_sensor_day == 1.0


def test_score_reports_rules_the_rules_file_does_not_know() -> None:
    rows = score(TRUTHS, [Episode("old-rule", f"{AIR}1", "air", "pudong", 0, 0)], [], {}, 0)
    assert [(row.rule, row.alerts, row.true_alerts, row.false_alarms_per_sensor_day)
            for row in rows] == [("old-rule", 1, 1, None), (SUBTOTAL, 1, 1, None),
                                 (OVERALL, 1, 1, None)]


def test_quantile_interpolates_linearly() -> None:
    assert quantile([], 0.5) is None
    assert quantile([7.0], 0.9) == 7.0
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert quantile([0.0, 10.0], 0.9) == pytest.approx(9.0)


def test_episodes_keep_firing_once_and_pair_it_with_its_resolve() -> None:
    changes = [_alert("pending", 0, 0), _alert("firing", 15 * M, 0),
               _alert("firing", 16 * M, 0),  # republished after a restart
               _alert("acknowledged", 17 * M, 0), _alert("resolved", 30 * M, 0),
               _alert("pending", 40 * M, 40 * M), _alert("resolved", 41 * M, 40 * M),  # never fired
               _alert("firing", 50 * M, 50 * M, sensor=f"{AIR}2")]
    assert episodes(changes) == [
        Episode("pm25-high", f"{AIR}1", "air", "pudong", 0, 15 * M, 30 * M),
        Episode("pm25-high", f"{AIR}2", "air", "pudong", 50 * M, 50 * M, None)]


def test_format_table_has_one_line_per_rule_and_dashes_for_undefined() -> None:
    table = format_table(score(TRUTHS, EPISODES, TARGETS, {"air": 4.0}, 10 * M))
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["rule", "alerts", "true", "precision"]
    assert lines[1] == "-- incident rules: scored on the injected incidents"
    assert lines[2].split() == ["pm25-high", "5", "3", "0.600", "3", "2", "0.667", "0.5000",
                                "600", "1080"]
    assert lines[4].split()[6] == "-"  # custom: no recall without `detects`
    assert lines[-2].startswith("subtotal")
    assert lines[-1].startswith("overall")


CONDITION_TARGETS = [Target("air-stale", "air", frozenset({"offline"}), Basis.DEVICE),
                     Target("pm25-high", "air", frozenset({"pollution-episode"}),
                            Basis.CONDITION)]
CLEAN = [  # what pm25-high raised on the clean signal (and one of another rule)
    Episode("pm25-high", f"{AIR}1", "air", "pudong", 10 * M, 25 * M, 40 * M),
    Episode("pm25-high", f"{AIR}2", "air", "pudong", 100 * M, 115 * M, 130 * M),
    Episode("pm25-high", f"{AIR}4", "air", "pudong", 300 * M, 315 * M),  # still on at the end
    Episode("aqi-unhealthy", f"{AIR}5", "air", "pudong", 0, 10 * M, 60 * M),
    Episode("pm25-high", f"{AIR}6", "air", "pudong", 500 * M, 515 * M, 520 * M),  # missed
]
ALERTS = [
    Episode("pm25-high", f"{AIR}1", "air", "pudong", 12 * M, 27 * M, 45 * M),  # CLEAN[0]
    Episode("pm25-high", f"{AIR}1", "air", "pudong", 200 * M, 215 * M, 230 * M),  # nothing real
    Episode("pm25-high", f"{AIR}4", "air", "pudong", 400 * M, 415 * M),  # CLEAN[2], open
    Episode("pm25-high", f"{AIR}5", "air", "pudong", 0, 15 * M, 50 * M),  # another rule's
    Episode("pm25-high", f"{AIR}2", "air", "pudong", 139 * M, 141 * M, 150 * M),  # tolerance
    Episode("air-stale", f"{AIR}3", "air", "pudong", 205 * M, 205 * M, 230 * M),  # offline
]


def test_condition_rules_are_scored_on_their_episodes_on_the_clean_signal() -> None:
    rows = score(TRUTHS, ALERTS, CONDITION_TARGETS, {"air": 4.0}, 10 * M, clean=CLEAN)
    assert [(row.rule, row.basis) for row in rows] == [
        ("air-stale", Basis.DEVICE), (SUBTOTAL, Basis.DEVICE),
        ("pm25-high", Basis.CONDITION), (SUBTOTAL, Basis.CONDITION), (OVERALL, None)]
    pm25 = rows[2]
    # The pollution episode injected on AIR1 (TRUTHS[0]) is not what it is scored on.
    assert (pm25.alerts, pm25.true_alerts, pm25.truths, pm25.detected) == (5, 3, 4, 3)
    assert (pm25.precision, pm25.recall) == (0.6, 0.75)
    assert pm25.false_alarms_per_sensor_day == pytest.approx(0.5)
    # Delays from the start of the real condition: 27-10, 141-100 and 415-300 minutes.
    assert sorted(pm25.delays_s) == [1020.0, 2460.0, 6900.0]
    device = rows[0]
    assert (device.alerts, device.true_alerts, device.truths, device.detected) == (1, 1, 1, 1)
    assert rows[3].as_dict() | {"rule": "pm25-high"} == pm25.as_dict()
    overall = rows[-1]
    assert (overall.alerts, overall.true_alerts, overall.truths, overall.detected) == (6, 4, 5, 4)
    assert overall.sensor_days == 4.0  # the exposure of the kind, once
    assert sorted(overall.delays_s) == [300.0, 1020.0, 2460.0, 6900.0]


def test_a_clean_episode_matches_only_within_the_tolerance() -> None:
    late = [Episode("pm25-high", f"{AIR}2", "air", "pudong", 141 * M, 142 * M, 150 * M)]
    rows = score([], late, CONDITION_TARGETS[1:], {"air": 1.0}, 10 * M, clean=CLEAN[1:2])
    assert (rows[0].true_alerts, rows[0].detected) == (0, 0)
    rows = score([], late, CONDITION_TARGETS[1:], {"air": 1.0}, 11 * M, clean=CLEAN[1:2])
    assert (rows[0].true_alerts, rows[0].detected, rows[0].delays_s) == (1, 1, (2520.0,))


def test_without_a_clean_signal_condition_rules_fall_back_to_the_injected_truth() -> None:
    rows = score(TRUTHS, ALERTS, CONDITION_TARGETS, {"air": 4.0}, 10 * M)
    pm25 = next(row for row in rows if row.rule == "pm25-high")
    assert pm25.basis is Basis.CONDITION
    assert (pm25.alerts, pm25.true_alerts, pm25.truths, pm25.detected) == (5, 2, 3, 2)
    table = format_table(rows, clean_signal=False).splitlines()
    assert "-- condition rules: this run has no clean signal" in "\n".join(table)


def test_the_table_has_a_section_and_a_subtotal_per_basis() -> None:
    lines = format_table(score(TRUTHS, ALERTS, CONDITION_TARGETS, {"air": 4.0}, 10 * M,
                               clean=CLEAN)).splitlines()
    assert [line.split()[0] for line in lines] == [
        "rule", "--", "air-stale", SUBTOTAL, "--", "pm25-high", SUBTOTAL, OVERALL]
    assert lines[4].startswith("-- condition rules: scored on their episodes on the clean")
    assert lines[6].split()[1:7] == ["5", "3", "0.600", "4", "3", "0.750"]


# -- the evidence of what the platform received (the quality goal's definitions) ----------

STALE = Target("air-stale", "air", frozenset({"offline", "dropout"}), Basis.DEVICE, swept=True)
RANGE = Target("temp-odd", "air", frozenset({"drift"}), Basis.DEVICE)
SHOWN = [
    Episode("air-stale", f"{AIR}1", "air", "pudong", 13 * M, 13 * M, 40 * M),  # the outage
    Episode("temp-odd", f"{AIR}2", "air", "pudong", 150 * M, 150 * M),  # the drift, late
]
OUTAGES = [_truth(f"{AIR}1", "air", "offline", 10 * M, 40 * M),
           _truth(f"{AIR}1", "air", "dropout", 100 * M, 101 * M),  # too short to be stale
           _truth(f"{AIR}2", "air", "drift", 60 * M, None)]


def test_a_device_health_rule_is_scored_on_the_faults_that_showed_in_what_was_received(
        ) -> None:
    evidence = Evidence(SHOWN, {})
    alerts = [SHOWN[0], Episode("air-stale", f"{AIR}1", "air", "pudong", 100 * M, 101 * M,
                                102 * M), SHOWN[1]]
    rows = {row.rule: row for row in score(OUTAGES, alerts, [STALE, RANGE], {"air": 1.0}, 0,
                                           evidence=evidence, data_end_ms=200 * M)}
    stale = rows["air-stale"]
    # The dropout never silenced the station for 3 intervals, so it is not a truth the
    # rule could miss; an alert during it is still a true one.
    assert (stale.alerts, stale.true_alerts, stale.truths, stale.detected) == (2, 2, 1, 1)
    assert stale.delays_s == (180.0,)  # a silence counts from the outage's start
    drift = rows["temp-odd"]
    # Per reading, from the first reading past the level (150 min), not the drift's start;
    # the alert still open at the end of the data lasts until it.
    assert (drift.truths, drift.detected, drift.delays_s) == (1, 1, (0.0,))
    without = {row.rule: row for row in score(OUTAGES, alerts, [STALE, RANGE], {"air": 1.0}, 0)}
    assert (without["air-stale"].truths, without["temp-odd"].delays_s) == (2, (5400.0,))


def test_a_condition_the_platform_received_no_readings_of_is_not_a_truth() -> None:
    target = Target("pm25-high", "air", None, Basis.CONDITION, for_s=600)
    clean = [Episode("pm25-high", f"{AIR}1", "air", "pudong", 10 * M, 30 * M, 60 * M),
             Episode("pm25-high", f"{AIR}2", "air", "pudong", 10 * M, 30 * M, 60 * M),
             Episode("pm25-high", f"{AIR}3", "air", "pudong", 10 * M, 30 * M, 60 * M)]
    received = {f"{AIR}1": [m * M for m in range(0, 70, 5)],
                f"{AIR}2": [5 * M, 65 * M],  # offline through the whole episode
                f"{AIR}3": [12 * M, 15 * M]}  # five minutes of readings: less than its `for`
    rows = score([], [], [target], {"air": 1.0}, 0, clean=clean,
                 evidence=Evidence([], received))
    assert (rows[0].truths, rows[0].detected) == (1, 0)


def test_an_incident_rule_is_scored_on_the_incidents_that_did_what_it_looks_for() -> None:
    target = Target("energy-above-baseline", "energy", frozenset({"hvac-holiday"}),
                    Basis.INCIDENT, for_s=7200)
    left_on = [_truth(f"energy-pudong-000{n}", "energy", "hvac-holiday", 0, 1440 * M)
               for n in (1, 2, 3)]
    # On the clean signal the rule fired on the office and the mall; the hospital cools
    # through the night anyway: HVAC left on changed too little there to be caught.
    realised = [Episode("energy-above-baseline", f"energy-pudong-000{n}", "energy", "pudong",
                        0, 120 * M, 300 * M) for n in (1, 2)]
    received = {f"energy-pudong-000{n}": list(range(0, 1440 * M, 15 * M)) for n in (1, 3)}
    alerts = [Episode("energy-above-baseline", "energy-pudong-0001", "energy", "pudong", 0,
                      125 * M, 300 * M)]
    row = score(left_on, alerts, [target], {"energy": 3.0}, 0,
                evidence=Evidence([], received, realised))[0]
    # The mall's meter sent nothing (no readings received): what it did is not a miss.
    assert (row.alerts, row.true_alerts, row.truths, row.detected) == (1, 1, 1, 1)
    assert row.delays_s == (7500.0,)


def test_a_warm_up_scores_nothing_over_before_the_span_but_matches_what_reaches_it() -> None:
    target = [Target("air-stale", "air", frozenset({"offline"}), Basis.DEVICE)]
    truths = [_truth(f"{AIR}1", "air", "offline", 0, 50 * M),  # over in the warm-up
              _truth(f"{AIR}2", "air", "offline", 80 * M, 200 * M)]  # reaches the span
    alerts = [Episode("air-stale", f"{AIR}1", "air", "pudong", 3 * M, 3 * M, 51 * M),
              Episode("air-stale", f"{AIR}2", "air", "pudong", 83 * M, 83 * M, 201 * M)]
    row = score(truths, alerts, target, {"air": 1.0}, 0, scored_from_ms=100 * M)[0]
    assert (row.alerts, row.true_alerts, row.truths, row.detected) == (2, 2, 1, 1)
    assert row.delays_s == (0.0,)  # from the span's start at the earliest


def test_an_episode_still_active_at_the_end_of_the_data_lasts_until_it() -> None:
    late = [_truth(f"{AIR}1", "air", "pollution-episode", 300 * M, 320 * M)]
    opened = [Episode("pm25-high", f"{AIR}1", "air", "pudong", 100 * M, 115 * M)]
    target = [Target("pm25-high", "air", frozenset({"pollution-episode"}))]
    assert score(late, opened, target, {"air": 1.0}, 0)[0].true_alerts == 0
    row = score(late, opened, target, {"air": 1.0}, 0, data_end_ms=400 * M)[0]
    assert (row.true_alerts, row.detected, row.delays_s) == (1, 1, (0.0,))


def test_the_goal_lists_what_a_score_misses() -> None:
    rules = _rules_of(["air-stale", "pm25-high"])
    rows = [RuleScore("air-stale", 10, 8, 8, 8, 10.0, (170.0, 600.0, 700.0), Basis.DEVICE),
            RuleScore("pm25-high", 3, 3, 4, 3, 10.0, (900.0,), Basis.CONDITION),
            RuleScore("quiet", 2, 0, 0, 0, 10.0, (), Basis.INCIDENT),  # no truth: no targets
            RuleScore(OVERALL, 15, 11, 12, 11, 10.0, (), None)]
    intervals = {f"{AIR}{n}": 60.0 for n in range(3)}
    watched = {"air-stale": list(intervals), "pm25-high": list(intervals)}
    assert [str(s) for s in unmet(rows, rules, intervals, watched)] == [
        "air-stale: precision 0.800 < 0.9",
        "air-stale: delay p50 s 600.000 > 300",  # 3 x 60 s of silence + 2 intervals
        "pm25-high: recall 0.750 < 0.9",  # its 900 s are within its 15 min + 2 minutes
        "overall: false alarms per sensor-day 0.400 > 0.1"]
    assert report([]).endswith("\nmet")


def _rules_of(names: list[str]) -> list[Rule]:
    return [rule for rule in load_rules() if rule.name in names]


def test_score_from_scores_only_what_follows_the_warm_up(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("URBANPULSE_INGEST_RULES", raising=False)
    path = _run_file(tmp_path)
    run = read_run(path, scored_from_ms=20 * M)
    assert (run.start_ms, run.end_ms) == (20 * M, 40 * M)
    # Truths keep their start: an alert open in the scored span may still be theirs.
    assert [(t.type, t.start) for t in run.truths] == [("pollution-episode", 0)]
    assert main(["score", "--truth", str(path), "--replay", "--json", "--from",
                 datetime.fromtimestamp(20 * 60, UTC).isoformat()]) == 0
    report_ = json.loads(capsys.readouterr().out)
    rows = {row["rule"]: row for row in report_["rules"]}
    assert report_["scored_from"] == 20 * M
    # The station's silence from minute 13 to 40 is still open at minute 20: it is scored.
    assert rows["air-stale"]["alerts"] == 1
    assert rows["air-stale"]["sensor_days"] == pytest.approx(2 * 20 / 1440)


def test_default_rules_are_classed_by_what_they_watch() -> None:
    bases = {target.rule: target.basis for target in targets(load_rules())}
    assert {name: bases[name] for name in (
        "pm25-high", "aqi-unhealthy", "lot-nearly-full", "water-class-below-target",
        "noise-over-zone-limit", "ponding-notify", "pressure-low", "gas-alarm",
        "air-stale", "pm25-stuck", "water-temperature-implausible", "manhole-battery-low",
        "tunnel-o2-high", "streetlight-silent", "pressure-burst", "lamp-out-at-night",
        "storm-sewer-dry-weather-flow")} == {
        **dict.fromkeys(("pm25-high", "aqi-unhealthy", "lot-nearly-full",
                         "water-class-below-target", "noise-over-zone-limit", "ponding-notify",
                         "pressure-low", "gas-alarm"), Basis.CONDITION),
        # silence, flat line, implausible range, the device's battery, a `bias` fault
        **dict.fromkeys(("air-stale", "pm25-stuck", "water-temperature-implausible",
                         "manhole-battery-low", "tunnel-o2-high", "streetlight-silent"),
                        Basis.DEVICE),
        **dict.fromkeys(("pressure-burst", "lamp-out-at-night",
                         "storm-sewer-dry-weather-flow"), Basis.INCIDENT)}


def test_every_rule_type_has_a_basis_and_an_unknown_one_stops_the_command() -> None:
    assert set(rule_types()) == DEVICE_TYPES | set(TYPE_BASES)
    mystery = BaseRule(name="mystery-rule", type="mystery", severity="low", kind="air",
                       detects=("pollution-episode",))
    with pytest.raises(ConfigError, match=r"Rule 'mystery-rule' is of type 'mystery', which "
                                          r"`urbanpulse score` cannot class"):
        basis_of(mystery)


def test_every_default_rule_detects_types_the_simulator_injects() -> None:
    known = (set(FAULTS) | set(NETWORK_INCIDENTS)
             | {name for kind in KINDS.values() for name in kind.incidents})
    for rule in load_rules():
        assert rule.detects, rule.name
        assert set(rule.detects) <= known, rule.name


def _line(topic: str, payload: bytes, retain: bool = False) -> bytes:
    flag = b"true" if retain else b"false"
    return (b'{"topic":' + msgspec.json.encode(topic) + b',"retain":' + flag + b',"payload":'
            + payload + b"}\n")


def test_read_alerts_takes_bare_enveloped_and_mosquitto_sub_lines(tmp_path: Path) -> None:
    topic = "city/alerts/pudong/air/air-pudong-0001/pm25-high"
    firing, resolved = _alert("firing", 15 * M, 0), _alert("resolved", 30 * M, 0)
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(encoder.encode(firing) + b"\n\n" + _line(topic, encoder.encode(resolved))
                     + _line(topic, b"null", retain=True)
                     + f"{topic} ".encode() + encoder.encode(firing) + b"\n"
                     + f"{topic} \n".encode())
    assert read_alerts(path) == [firing, resolved, firing]


def test_read_alerts_names_the_line_that_is_not_an_alert(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text(encoder.encode(_alert("firing", 0, 0)).decode() + '\n{"rule": "x"}\n')
    with pytest.raises(ConfigError, match=r"alerts.jsonl, line 2, is not an alert"):
        read_alerts(path)


def _run_file(tmp_path: Path) -> Path:
    """Sensor 1 reports minutes 1-12 and 40 (one NaN reading after 12); sensor 2 every minute."""
    birth = {"v": 1, "sensor": f"{AIR}1", "kind": "air", "district": "pudong", "site": "x",
             "lat": 31.2, "lon": 121.5, "zone": "urban", "interval_s": 60, "ts": 0}
    lines = [_line(f"city/sensors/pudong/air/{AIR}1", json.dumps(birth).encode(), retain=True),
             _line(f"city/truth/pudong/air/{AIR}1", encoder.encode(TRUTHS[0]))]
    for minute in range(1, 41):
        for sensor in (1, 2):
            if sensor == 1 and 12 < minute < 40:
                if minute == 13:
                    lines.append(_line(f"city/readings/pudong/air/{AIR}1",
                                       b'{"v":1,"values":{"pm25":NaN}}'))
                continue
            reading = {"v": 1, "sensor": f"{AIR}{sensor}", "kind": "air", "district": "pudong",
                       "ts": minute * M, "seq": minute, "values": {"pm25": 30.0}}
            lines.append(_line(f"city/readings/pudong/air/{AIR}{sensor}",
                               json.dumps(reading).encode()))
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def test_read_run_collects_truths_sensors_and_span(tmp_path: Path) -> None:
    run = read_run(_run_file(tmp_path))
    assert run.truths == [TRUTHS[0]]
    assert run.sensors == {f"{AIR}1": "air", f"{AIR}2": "air"}
    assert run.sites == {f"{AIR}1": "x"}  # the street of an incident it opens; 2 has no birth
    assert run.sensor_days() == {"air": pytest.approx(2 * 40 / 1440)}


def test_read_run_keeps_only_truths_the_run_could_see(tmp_path: Path) -> None:
    birth = {"v": 1, "sensor": f"{AIR}1", "kind": "air", "district": "pudong", "site": "x",
             "lat": 31.2, "lon": 121.5, "zone": "urban", "interval_s": 60, "ts": 100 * M}
    reading = {"v": 1, "sensor": f"{AIR}1", "kind": "air", "district": "pudong",
               "ts": 110 * M, "seq": 0, "values": {"pm25": 30.0}}
    truths = [_truth(f"{AIR}1", "air", "dropout", 0, 50 * M),  # over before the run
              _truth(f"{AIR}1", "air", "offline", 50 * M, None),  # began before it
              _truth(f"{AIR}1", "air", "stuck", 105 * M, 200 * M),
              _truth(f"{AIR}1", "air", "bias", 111 * M, 200 * M)]  # after the last reading
    path = tmp_path / "run.jsonl"
    path.write_bytes(_line(f"city/sensors/pudong/air/{AIR}1", json.dumps(birth).encode(), True)
                     + b"".join(_line(f"city/truth/pudong/air/{AIR}1", encoder.encode(t))
                                for t in truths)
                     + _line(f"city/readings/pudong/air/{AIR}1", json.dumps(reading).encode()))
    run = read_run(path)
    assert [(t.type, t.start) for t in run.truths] == [("offline", 100 * M), ("stuck", 105 * M)]
    assert (run.start_ms, run.end_ms) == (100 * M, 110 * M)


def test_replay_fires_stale_over_a_gap_and_skips_dead_letters(tmp_path: Path) -> None:
    changes = replay(_run_file(tmp_path), [r for r in load_rules() if r.name == "air-stale"])
    assert [(a.state, a.since) for a in changes] == [("firing", 15 * M + 10_000),
                                                     ("resolved", 15 * M + 10_000)]
    assert changes[1].ts == 40 * M


def _reading(sensor: str, minute: int, seq: int, pm25: float) -> bytes:
    return json.dumps({"v": 1, "sensor": sensor, "kind": "air", "district": "pudong",
                       "ts": minute * M, "seq": seq, "values": {"pm25": pm25}}).encode()


def _clean_run_file(tmp_path: Path) -> Path:
    """Two stations for 20 minutes, each reading 150 µg/m³ and the rule's limit 100.

    AIR1 over-reads: its clean records say 40. AIR2 reads true: its clean signal is its
    readings (a record opens it), one of which is sent twice and one dropped.
    """
    lines = []
    for n in (1, 2):
        birth = {"v": 1, "sensor": f"{AIR}{n}", "kind": "air", "district": "pudong",
                 "site": "x", "lat": 31.2, "lon": 121.5, "zone": "urban", "interval_s": 60,
                 "ts": 0}
        lines.append(_line(f"city/sensors/pudong/air/{AIR}{n}", json.dumps(birth).encode(),
                           retain=True))
    for minute in range(1, 21):
        seq = minute - 1
        lines.append(_line(f"city/truth/pudong/air/{AIR}1/clean",
                           _reading(f"{AIR}1", minute, seq, 40.0)))
        lines.append(_line(f"city/readings/pudong/air/{AIR}1",
                           _reading(f"{AIR}1", minute, seq, 150.0)))
        if minute in (1, 8):  # its opening record; a dropped reading's record
            lines.append(_line(f"city/truth/pudong/air/{AIR}2/clean",
                               _reading(f"{AIR}2", minute, seq, 150.0)))
        if minute != 8:
            lines += [_line(f"city/readings/pudong/air/{AIR}2",
                            _reading(f"{AIR}2", minute, seq, 150.0))] * (2 if minute == 5 else 1)
    path = tmp_path / "clean.jsonl"
    path.write_bytes(b"".join(lines))
    return path


RULES = """rules:
  - {name: pm25-over, type: threshold, kind: air, metric: pm25, above: 100, clear: 90,
     severity: low}
"""


def test_the_clean_signal_is_each_reading_or_the_record_that_stands_for_it() -> None:
    def topic(channel: str, n: int) -> Topic:
        return topics.parse(f"city/{channel}/pudong/air/{AIR}{n}")

    clean = topics.parse(f"city/truth/pudong/air/{AIR}1/clean")
    signal = CleanSignal()
    picked = [signal.pick(t, payload) for t, payload in [
        (clean, _reading(f"{AIR}1", 1, 0, 40.0)),
        (topic("readings", 1), _reading(f"{AIR}1", 1, 0, 150.0)),  # stood for by the record
        (topic("readings", 2), _reading(f"{AIR}2", 1, 0, 20.0)),  # stands for itself
        (topic("readings", 2), _reading(f"{AIR}2", 1, 0, 20.0)),  # its duplicate
        (clean, _reading(f"{AIR}1", 2, 1, 41.0)),  # a reading held back ...
        (topic("readings", 1), _reading(f"{AIR}1", 3, 2, 42.0)),
        (topic("readings", 1), _reading(f"{AIR}1", 2, 1, 41.0)),  # ... comes late
        (topic("readings", 1), b'{"v":1,"sens'),  # mangled
        (topic("truth", 1), encoder.encode(TRUTHS[0])),  # an injected event
    ]]
    assert picked == [
        (f"city/readings/pudong/air/{AIR}1", _reading(f"{AIR}1", 1, 0, 40.0)), None,
        (f"city/readings/pudong/air/{AIR}2", _reading(f"{AIR}2", 1, 0, 20.0)), None,
        (f"city/readings/pudong/air/{AIR}1", _reading(f"{AIR}1", 2, 1, 41.0)),
        (f"city/readings/pudong/air/{AIR}1", _reading(f"{AIR}1", 3, 2, 42.0)), None, None,
        None]


def test_replay_scores_a_condition_rule_on_the_clean_signal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    run = _clean_run_file(tmp_path)
    assert read_run(run).cleans == 22
    assert main(["score", "--truth", str(run), "--replay", "--rules", str(rules),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["clean_signal"], report["clean_episodes"]) == (True, 1)
    row = report["rules"][0]
    # Both stations alerted on their readings; only AIR2's was real (AIR1 read 150 of 40).
    assert (row["rule"], row["class"], row["alerts"], row["true_alerts"], row["truths"],
            row["detected"], row["delay_p50_s"]) == ("pm25-over", "condition", 2, 1, 1, 1, 0.0)
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_bytes(encoder.encode(_alert("firing", 3 * M, 2 * M, rule="pm25-over",
                                             sensor=f"{AIR}2")) + b"\n")
    assert main(["score", "--truth", str(run), "--alerts", str(alerts), "--rules",
                 str(rules)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].startswith("-- condition rules: scored on their episodes on the clean")
    assert table[2].split() == ["pm25-over", "1", "1", "1.000", "1", "1", "1.000", "0.0000",
                                "120", "120"]  # from the real condition's start at minute 1


def test_score_command_prints_json_from_an_alerts_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("URBANPULSE_INGEST_RULES", raising=False)
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_bytes(encoder.encode(_alert("firing", 20 * M, 5 * M)) + b"\n")
    assert main(["score", "--truth", str(_run_file(tmp_path)), "--alerts", str(alerts),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {row["rule"]: row for row in report["rules"]}
    assert (report["truths"], report["sensors"]) == (1, 2)
    # A run file without a clean signal (as written before it was recorded) still scores:
    # its condition rules on the injected truth, as then.
    assert (report["clean_signal"], report["clean_episodes"]) == (False, None)
    assert rows["pm25-high"] | {"sensor_days": 1} == {
        "rule": "pm25-high", "class": "condition", "alerts": 1, "true_alerts": 1,
        "false_alerts": 0, "precision": 1.0, "truths": 1, "detected": 1, "recall": 1.0,
        "sensor_days": 1, "false_alarms_per_sensor_day": 0.0, "delay_p50_s": 1200.0,
        "delay_p90_s": 1200.0}
    # The alert is grouped into an incident on the ingester's desk: the pollution episode's.
    incidents = report["incidents"]
    assert [(one["verdict"], len(one["incidents"])) for one in incidents["injected"]] == [
        ("one", 1)]
    assert incidents["injected_incidents"] == incidents["injected"][0]["incidents"]
    assert (incidents["platform"], incidents["false_incidents"]) == (1, [])


def test_score_command_without_an_alert_source_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "--truth", str(_run_file(tmp_path))]) == 2
    assert "--alerts FILE, --replay" in capsys.readouterr().err


def test_seeded_run_replayed_through_the_engine_scores_within_bounds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("URBANPULSE_INGEST_RULES", "URBANPULSE_SIM_SENSORS", "URBANPULSE_TOPIC_ROOT"):
        monkeypatch.delenv(name, raising=False)
    run = tmp_path / "run.jsonl"
    assert main(["sim", "--seed", "3", "--start", "2026-03-02T00:00:00+08:00", "--duration",
                 "14400", "--speed", "0", "--fault-rate", "4", "--scenario", "incidents",
                 "--scale", "0.3", "--output", f"jsonl:{run}"]) == 0
    capsys.readouterr()
    assert main(["score", "--truth", str(run), "--replay", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["rules"]
    rules = load_rules()
    bases = {target.rule: target.basis.value for target in targets(rules)}
    per_rule = [row for row in rows if row["rule"] not in (SUBTOTAL, OVERALL)]
    assert sorted(row["rule"] for row in per_rule) == sorted(r.name for r in rules)
    assert all(row["class"] == bases[row["rule"]] for row in per_rule)
    sections = [row["class"] for row in rows if row["rule"] == SUBTOTAL]
    assert sections == [basis.value for basis in BASES]  # the default rules have all three
    assert [row["class"] for row in per_rule] == sorted(
        (row["class"] for row in per_rule), key=sections.index)
    for row in rows:
        for measure in ("precision", "recall"):
            assert row[measure] is None or 0 <= row[measure] <= 1, row
        assert row["false_alarms_per_sensor_day"] >= 0
        assert row["delay_p50_s"] is None or 0 <= row["delay_p50_s"] <= row["delay_p90_s"]
    assert any((row["recall"] or 0) > 0 for row in per_rule)
    assert rows[-1]["rule"] == OVERALL
    assert rows[-1]["alerts"] == sum(row["alerts"] for row in per_rule) > 0
    assert report["clean_signal"] is True  # a file run records it by default
    conditions = [row for row in per_rule if row["class"] == "condition"]
    # Recall counts the clean episodes the platform received readings of: not those of a
    # silent sensor.
    assert report["clean_episodes"] >= sum(row["truths"] for row in conditions) > 0


@pytest.mark.services
@pytest.mark.usefixtures("server_binaries")
async def test_query_alerts_reads_firing_and_resolved_changes_from_influxdb(
        influxd: stack.Server, influx_db: str) -> None:
    changes = [_alert("pending", 1_772_380_800_000, 1_772_380_800_000),
               _alert("firing", 1_772_381_700_000, 1_772_380_800_000),
               _alert("resolved", 1_772_382_600_000, 1_772_380_800_000)]
    response = httpx.post(f"{influxd.url}/write", params={"db": influx_db, "precision": "ms"},
                          content="\n".join(alert_point(a) for a in changes))
    assert response.status_code == 204
    async with httpx.AsyncClient(base_url=influxd.url) as client:
        influx = InfluxQuery(HttpxTransport(client), influx_db)
        read = await query_alerts(influx, datetime(2026, 3, 1, 16), datetime(2026, 3, 2, 16))
        assert sorted(read, key=lambda a: a.ts) == changes[1:]
        assert await query_alerts(influx, datetime(2026, 3, 2, 16),
                                  datetime(2026, 3, 3, 16)) == []


async def test_query_alerts_sends_one_bounded_statement_and_says_when_refused() -> None:
    fake = FakeTransport(InfluxResponse(401, b'{"error":"authorization failed"}'))
    with pytest.raises(InfluxQueryError, match="401: authorization failed"):
        await query_alerts(InfluxQuery(fake, "city"), datetime(2026, 3, 1, 16),
                           datetime(2026, 3, 2, 16, tzinfo=UTC))
    ((path, params),) = fake.requests
    assert (path, params["db"], params["epoch"]) == ("/query", "city", "ms")
    assert params["q"] == (
        'SELECT * FROM "alerts" WHERE ("state"::tag = \'firing\' OR "state"::tag = '
        '\'resolved\') '
        "AND time >= 1772380800000ms AND time < 1772467200000ms")
