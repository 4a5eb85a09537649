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
from ingest.alerts.rules import load_rules
from ingest.points import alert_point
from ops import stack
from ops.cli import main
from ops.score import Episode, Target, episodes, format_table, quantile, score
from ops.score_influx import query_alerts
from ops.score_run import read_alerts, read_run, replay
from simulator.faults import FAULTS
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS
from urbanpulse.messages import Alert, AlertState, Truth, encoder

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
    assert list(rows) == ["pm25-high", "air-district-stale", "custom", "overall"]
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
            for row in rows] == [("old-rule", 1, 1, None), ("overall", 1, 1, None)]


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
    assert lines[1].split() == ["pm25-high", "5", "3", "0.600", "3", "2", "0.667", "0.5000",
                                "600", "1080"]
    assert lines[3].split()[6] == "-"  # custom: no recall without `detects`
    assert lines[-1].startswith("overall")


def test_every_default_rule_detects_types_the_simulator_injects() -> None:
    known = set(FAULTS) | {name for kind in KINDS.values() for name in kind.incidents}
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
    assert rows["pm25-high"] | {"sensor_days": 1} == {
        "rule": "pm25-high", "alerts": 1, "true_alerts": 1, "false_alerts": 0,
        "precision": 1.0, "truths": 1, "detected": 1, "recall": 1.0, "sensor_days": 1,
        "false_alarms_per_sensor_day": 0.0, "delay_p50_s": 1200.0, "delay_p90_s": 1200.0}


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
    rows = json.loads(capsys.readouterr().out)["rules"]
    assert [row["rule"] for row in rows] == [*(r.name for r in load_rules()), "overall"]
    for row in rows:
        for measure in ("precision", "recall"):
            assert row[measure] is None or 0 <= row[measure] <= 1, row
        assert row["false_alarms_per_sensor_day"] >= 0
        assert row["delay_p50_s"] is None or 0 <= row["delay_p50_s"] <= row["delay_p90_s"]
    assert any((row["recall"] or 0) > 0 for row in rows if row["rule"] != "overall")
    assert rows[-1]["alerts"] == sum(row["alerts"] for row in rows[:-1]) > 0


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
