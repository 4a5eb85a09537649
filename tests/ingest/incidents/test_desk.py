"""The incident desk, driven by hand-made alert changes and a clock the test moves.

Correlation, the lifecycle with its illegal moves, the overrun alerts, streets,
and the restart from the desk's own record (points read back as InfluxDB
returns them).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ingest.alerts.engine import fingerprint
from ingest.alerts.rules import Rule, parse_rule
from ingest.incidents.changes import (
    ILLEGAL,
    UNKNOWN,
    Changes,
    StageLimits,
    TransitionRefusedError,
)
from ingest.incidents.desk import IncidentDesk
from ingest.incidents.record import audit_point
from ingest.incidents.routing import Routing
from urbanpulse.incidents import INCIDENT_KIND
from urbanpulse.messages import Alert, AlertState, IncidentStage, Severity

T0 = 1_795_000_000_000
MINUTE = 60_000
HOUR_MS = 60 * MINUTE
LIMITS = StageLimits(accepted_s=900, dispatched_s=1800, handling_s=4 * 3600)


def _rule(name: str, kind: str, metric: str, detects: list[str],
          severity: Severity = "high") -> dict[str, Any]:
    return {"name": name, "type": "threshold", "kind": kind, "metric": metric, "above": 1,
            "severity": severity, "detects": detects}


RULES: list[Rule] = [parse_rule(spec) for spec in (
    _rule("rainstorm", "rain", "rain_3h", ["cloudburst", "typhoon-rain"]),
    _rule("ponding", "ponding", "depth_cm", ["cloudburst-ponding", "main-burst-flooding"]),
    _rule("surcharge", "sewer", "fill_ratio", ["sewer-surcharge"]),
    _rule("forebay", "pump", "forebay_level_m", ["pump-discharge"]),
    _rule("well-water", "manhole", "water_level_cm", ["manhole-flooding"], "medium"),
    _rule("cover-open", "manhole", "cover_open", ["cover-displaced"]),
    _rule("pm25", "air", "pm25", ["pollution-episode"], "medium"),
    _rule("pressure-low", "pressure", "pressure_mpa", ["main-burst"], "critical"),
    _rule("sewer-stuck", "sewer", "fill_ratio", ["stuck"]),
    _rule("silent-lamp", "streetlight", "voltage_v", ["power-cut", "offline"], "low"),
    {"name": "air-stale", "type": "stale", "kind": "air", "severity": "low",
     "detects": ["offline", "dropout"]},
    {"name": "no-detects", "type": "threshold", "kind": "air", "metric": "pm10", "above": 1,
     "severity": "low"},
)]
SITES = {"rain-huangpu-0001": "the-bund", "ponding-huangpu-0001": "peoples-square",
         "sewer-huangpu-0001": "yuyuan", "pump-huangpu-0001": "dapuqiao",
         "manhole-huangpu-0003": "laoximen", "air-pudong-0002": "zhangjiang",
         "pressure-huangpu-0001": "xintiandi"}


def desk(*, window_s: float = 3600, sites: dict[str, str] | None = None) -> IncidentDesk:
    return IncidentDesk(Routing(RULES), LIMITS, join_window_s=window_s,
                        sites=SITES if sites is None else sites)


def alert(rule: str, sensor: str, state: AlertState = "firing", *, at: int = T0,
          since: int | None = None, severity: Severity = "high") -> Alert:
    kind, district = {"rainstorm": ("rain", "huangpu"), "ponding": ("ponding", "huangpu"),
                      "surcharge": ("sewer", "huangpu"), "forebay": ("pump", "huangpu"),
                      "well-water": ("manhole", "huangpu"), "cover-open": ("manhole", "huangpu"),
                      "pm25": ("air", "pudong"), "pressure-low": ("pressure", "huangpu"),
                      "sewer-stuck": ("sewer", "huangpu"), "silent-lamp": ("streetlight",
                                                                            "huangpu"),
                      "air-stale": ("air", "pudong"), "no-detects": ("air", "pudong")}[rule]
    if sensor.startswith("district-") or "-" not in sensor:
        district = sensor.removeprefix("district-") or district
    return Alert(v=1, alert_id=fingerprint(rule, sensor), rule=rule, sensor=sensor, kind=kind,
                 district=district, state=state, severity=severity, ts=at,
                 since=at if since is None else since, message=f"{rule} says so")


def resolved(firing: Alert, at: int) -> Alert:
    return msgspec.structs.replace(firing, state="resolved", ts=at)


STORM = [alert("ponding", "ponding-huangpu-0001", at=T0),
         alert("rainstorm", "rain-huangpu-0001", at=T0 + 20 * MINUTE),
         alert("surcharge", "sewer-huangpu-0001", at=T0 + 30 * MINUTE, severity="critical"),
         alert("forebay", "pump-huangpu-0001", at=T0 + 45 * MINUTE),
         alert("well-water", "manhole-huangpu-0003", at=T0 + 60 * MINUTE, severity="medium")]


def feed(target: IncidentDesk, alerts: list[Alert]) -> Changes:
    """Give the desk each alert at its own time, as the ingester would; return all changes."""
    changes = Changes()
    for one in alerts:
        got = target.on_alerts([one], one.ts)
        changes.incidents += got.incidents
        changes.audit += got.audit
        changes.alerts += got.alerts
    return changes


# -- correlation ---------------------------------------------------------------------------


def test_a_storm_chain_in_one_district_becomes_one_flood_control_incident() -> None:
    floods = desk()
    changes = feed(floods, STORM)

    (incident,) = floods.open
    assert (incident.district, incident.category, incident.stage) == (
        "huangpu", "flood-control", "accepted")
    assert incident.department == "Water Affairs Bureau, flood control 水务局（防汛）"
    assert incident.street == "peoples-square"  # where its first alert was
    assert incident.cause == "ponding on ponding-huangpu-0001: ponding says so"
    assert [episode.rule for episode in incident.alerts] == [
        "ponding", "rainstorm", "surcharge", "forebay", "well-water"]
    assert (incident.alerts_total, incident.active_alerts) == (5, 5)
    assert incident.severity == "critical"  # the worst of its alerts
    assert (incident.opened, incident.stage_since, incident.due) == (T0, T0, T0 + 15 * MINUTE)
    assert [state.change for state in changes.incidents] == ["opened"] + ["alert"] * 4
    assert [entry.action for entry in changes.audit] == ["opened"] + ["alert"] * 4
    assert all(entry.by == "urbanpulse" for entry in changes.audit)


def test_other_departments_and_districts_get_incidents_of_their_own() -> None:
    many = desk()
    feed(many, [*STORM[:2], alert("pm25", "air-pudong-0002", at=T0 + MINUTE),
                alert("cover-open", "manhole-huangpu-0003", at=T0 + 2 * MINUTE),
                alert("rainstorm", "district-pudong", at=T0 + 3 * MINUTE)])

    assert sorted((one.district, one.category, one.alerts_total) for one in many.open) == [
        ("huangpu", "flood-control", 2), ("huangpu", "municipal", 1),
        ("pudong", "eco-air", 1), ("pudong", "flood-control", 1)]
    (district_wide,) = [one for one in many.open if one.cause.startswith("rainstorm")]
    assert district_wide.street == ""  # a district-wide alert has no street of its own


def test_device_health_and_rules_without_detects_open_no_incident() -> None:
    quiet = desk()
    changes = feed(quiet, [alert("sewer-stuck", "sewer-huangpu-0001"),
                           alert("air-stale", "air-pudong-0002"),
                           alert("no-detects", "air-pudong-0002")])
    assert quiet.open == []
    assert not changes


def test_a_rule_detecting_a_fault_and_an_incident_opens_one() -> None:
    lamps = desk()
    feed(lamps, [alert("silent-lamp", "streetlight-huangpu-0001", severity="low")])
    assert [one.category for one in lamps.open] == ["street-lighting"]


def test_only_firing_alerts_open_incidents_and_a_repeat_changes_nothing() -> None:
    once = desk()
    pending = alert("ponding", "ponding-huangpu-0001", "pending")
    assert not once.on_alerts([pending], T0)
    firing = alert("ponding", "ponding-huangpu-0001")
    feed(once, [firing])
    assert not once.on_alerts([firing], T0 + MINUTE)  # the same episode again (a restart)
    acknowledged = msgspec.structs.replace(firing, state="acknowledged", ts=T0 + MINUTE)
    assert not once.on_alerts([acknowledged], T0 + MINUTE)
    assert [one.alerts_total for one in once.open] == [1]


def test_a_ponding_gauge_joins_the_water_supply_incident_of_a_burst_main_first() -> None:
    """Ponding alerts may go to flood control or water supply: an open incident of either
    takes them; with none open they open at flood control, the first their rule names."""
    burst = desk()
    feed(burst, [alert("pressure-low", "pressure-huangpu-0001", severity="critical"),
                 alert("ponding", "ponding-huangpu-0001", at=T0 + 10 * MINUTE)])
    (incident,) = burst.open
    assert (incident.category, incident.alerts_total) == ("water-supply", 2)
    rain = desk()
    feed(rain, [alert("ponding", "ponding-huangpu-0001")])
    assert [one.category for one in rain.open] == ["flood-control"]


def test_when_every_alert_resolved_the_incident_stays_open_and_says_so() -> None:
    calm = desk()
    ponding, rainstorm = STORM[0], STORM[1]
    feed(calm, [ponding, rainstorm])
    changes = feed(calm, [resolved(ponding, T0 + 90 * MINUTE)])
    assert changes.incidents[-1].resolved_at is None  # the rainstorm is still on
    changes = calm.on_alerts([resolved(rainstorm, T0 + 95 * MINUTE)], T0 + 95 * MINUTE)

    (incident,) = calm.open
    assert (incident.stage, incident.active_alerts, incident.resolved_at) == (
        "accepted", 0, T0 + 95 * MINUTE)
    assert [episode.resolved for episode in incident.alerts] == [
        T0 + 90 * MINUTE, T0 + 95 * MINUTE]
    assert changes.audit[-1].action == "all-resolved"
    assert "stays open until an operator closes it" in changes.audit[-1].detail


def test_a_quiet_incident_takes_new_alerts_within_the_join_window_only() -> None:
    window = desk(window_s=3600)
    ponding = STORM[0]
    feed(window, [ponding, resolved(ponding, T0 + 10 * MINUTE)])
    within = alert("rainstorm", "rain-huangpu-0001", at=T0 + 60 * MINUTE)
    feed(window, [within])
    (incident,) = window.open
    assert (incident.alerts_total, incident.active_alerts, incident.resolved_at) == (2, 1, None)
    feed(window, [resolved(within, T0 + 70 * MINUTE)])
    later = alert("surcharge", "sewer-huangpu-0001", at=T0 + 131 * MINUTE)
    feed(window, [later])
    assert [(one.alerts_total, one.cause.split()[0]) for one in window.open] == [
        (2, "ponding"), (1, "surcharge")]


# -- lifecycle -----------------------------------------------------------------------------


def opened() -> tuple[IncidentDesk, str]:
    one = desk()
    feed(one, STORM[:2])
    return one, one.open[0].incident_id


def test_operators_move_an_incident_through_its_stages_to_closed() -> None:
    work, incident_id = opened()
    audit = []
    moves: list[tuple[IncidentStage, str, int]] = [
        ("dispatched", "Sent to the Huangpu drainage crew.", 5), ("handling", "", 12),
        ("closed", "Pumped dry, underpass open.", 90)]
    for to, note, minute in moves:
        changes = work.transition(incident_id, to, "duty-officer", note, T0 + minute * MINUTE)
        (state,) = changes.incidents
        assert (state.stage, state.change, state.by, state.note) == (
            to, "transition", "duty-officer", note)
        assert state.stage_since == T0 + minute * MINUTE
        audit += changes.audit
    assert state.due is None
    assert work.open == []  # closed: the desk lets it go
    assert [(entry.stage, entry.to, entry.by, entry.minutes, entry.note) for entry in audit] == [
        ("accepted", "dispatched", "duty-officer", 5.0, "Sent to the Huangpu drainage crew."),
        ("dispatched", "handling", "duty-officer", 7.0, ""),
        ("handling", "closed", "duty-officer", 78.0, "Pumped dry, underpass open.")]
    assert audit[0].detail == "accepted → dispatched after 5 min"


@pytest.mark.parametrize(("moves", "sentence"), [
    (["handling"], "is accepted: it can move to dispatched or closed, not to handling."),
    (["accepted"], "is already accepted."),
    (["dispatched", "dispatched"], "is already dispatched."),
    (["dispatched", "handling", "dispatched"], "is handling: it can move to closed, not to "
                                               "dispatched."),
    (["dispatched", "handling", "accepted"], "is handling: it can move to closed, not to "
                                             "accepted."),
])
def test_an_illegal_move_is_refused_with_a_sentence(moves: list[Any], sentence: str) -> None:
    work, incident_id = opened()
    for to in moves[:-1]:
        work.transition(incident_id, to, "ops", "", T0 + MINUTE)
    with pytest.raises(TransitionRefusedError) as refused:
        work.transition(incident_id, moves[-1], "ops", "", T0 + 2 * MINUTE)
    assert refused.value.reason == ILLEGAL
    assert str(refused.value) == f"Incident {incident_id} {sentence}"


def test_a_closed_or_unknown_incident_cannot_move() -> None:
    work, incident_id = opened()
    work.transition(incident_id, "closed", "ops", "false alarm", T0 + MINUTE)
    for target in (incident_id, "0123456789abcdef"):
        with pytest.raises(TransitionRefusedError, match="is not open") as refused:
            work.transition(target, "dispatched", "ops", "", T0 + 2 * MINUTE)
        assert refused.value.reason == UNKNOWN


def test_a_dispatched_incident_may_be_returned_to_accepted() -> None:
    work, incident_id = opened()
    work.transition(incident_id, "dispatched", "ops", "", T0 + MINUTE)
    (state,) = work.transition(incident_id, "accepted", "water-bureau", "Not ours: a burst "
                               "main.", T0 + 3 * MINUTE).incidents
    assert (state.stage, state.due) == ("accepted", T0 + 3 * MINUTE + 15 * MINUTE)


def test_alerts_after_closing_open_a_new_incident() -> None:
    work, incident_id = opened()
    work.transition(incident_id, "closed", "ops", "", T0 + 30 * MINUTE)
    feed(work, [alert("surcharge", "sewer-huangpu-0001", at=T0 + 31 * MINUTE)])
    assert [one.cause.split()[0] for one in work.open] == ["surcharge"]


def test_changes_of_one_moment_are_stamped_apart() -> None:
    """InfluxDB keeps one point per series and time: two changes at one ms would be one."""
    same = desk()
    changes = same.on_alerts([msgspec.structs.replace(one, ts=T0, since=T0) for one in STORM],
                             T0)
    stamps = [state.ts for state in changes.incidents]
    assert stamps == sorted(set(stamps))
    assert [entry.ts for entry in changes.audit] == stamps


# -- time limits ---------------------------------------------------------------------------


def test_a_stage_past_its_limit_fires_one_overrun_alert_that_the_next_move_resolves() -> None:
    late, incident_id = opened()
    assert not late.tick(T0 + 15 * MINUTE - 1)
    changes = late.tick(T0 + 16 * MINUTE)

    (overrun,) = changes.alerts
    assert (overrun.rule, overrun.kind, overrun.sensor, overrun.district) == (
        "accepted-overrun", INCIDENT_KIND, incident_id, "huangpu")
    assert (overrun.state, overrun.since, overrun.ts, overrun.value) == (
        "firing", T0 + 15 * MINUTE, T0 + 16 * MINUTE, 16.0)
    assert overrun.alert_id == fingerprint("accepted-overrun", incident_id)
    assert "past its limit of 15 min" in overrun.message
    assert [(state.change, state.overrun) for state in changes.incidents] == [("overrun", True)]
    assert [entry.action for entry in changes.audit] == ["overrun"]
    assert not late.tick(T0 + 20 * MINUTE)  # once per stage

    moved = late.transition(incident_id, "dispatched", "ops", "", T0 + 21 * MINUTE)
    (cleared,) = moved.alerts
    assert (cleared.alert_id, cleared.state, cleared.ts) == (
        overrun.alert_id, "resolved", T0 + 21 * MINUTE)
    assert moved.incidents[-1].overrun is False
    (again,) = late.tick(T0 + 52 * MINUTE).alerts
    assert (again.rule, again.since) == ("dispatched-overrun", T0 + 51 * MINUTE)


def test_an_overrun_alert_is_acknowledged_like_any_other() -> None:
    late, _ = opened()
    (overrun,) = late.tick(T0 + 16 * MINUTE).alerts
    assert late.acknowledge("0123456789abcdef", "ops", "", T0) is None
    acked = late.acknowledge(overrun.alert_id, "shift-lead", "Calling them.", T0 + 17 * MINUTE)
    assert acked is not None
    assert (acked.state, acked.acked_by, acked.note) == ("acknowledged", "shift-lead",
                                                          "Calling them.")
    assert late.acknowledge(overrun.alert_id, "again", "", T0 + 18 * MINUTE) is None


def test_overrun_alerts_of_the_desk_itself_are_not_correlated() -> None:
    late, _ = opened()
    (overrun,) = late.tick(T0 + 16 * MINUTE).alerts
    assert not late.on_alerts([overrun], T0 + 16 * MINUTE)


# -- streets -------------------------------------------------------------------------------


def test_an_incident_waits_for_its_street_until_the_site_is_known() -> None:
    sites: dict[str, str] = {}
    where = desk(sites=sites)
    feed(where, [STORM[0]])
    assert where.open[0].street == ""
    assert where.unlocated() == {"ponding-huangpu-0001"}
    assert not where.locate(T0 + 1000)
    sites["ponding-huangpu-0001"] = "peoples-square"
    (state,) = where.locate(T0 + 2000).incidents
    assert (state.street, state.change) == ("peoples-square", "located")
    assert where.unlocated() == set()


# -- restart -------------------------------------------------------------------------------


def test_a_restarted_desk_takes_its_open_incidents_back_from_the_record() -> None:
    before = desk()
    feed(before, STORM[:3])
    incident_id = before.open[0].incident_id
    before.transition(incident_id, "dispatched", "ops", "crew sent", T0 + 31 * MINUTE)
    (overrun,) = before.tick(T0 + 62 * MINUTE).alerts
    acked = before.acknowledge(overrun.alert_id, "lead", "", T0 + 63 * MINUTE)
    record = before.open  # as InfluxDB holds them (tests/ingest/incidents/test_record.py)

    after = desk()
    # The sewer's alert resolved while the ingester was away: not among the active ones.
    assert acked is not None
    active = [STORM[0], STORM[1], acked]
    changes = after.restore(record, active, T0 + 70 * MINUTE)

    (restored,) = after.open
    assert (restored.incident_id, restored.stage, restored.overrun) == (
        incident_id, "dispatched", True)
    assert (restored.alerts_total, restored.active_alerts) == (3, 2)
    assert restored.alerts[2].resolved == T0 + 70 * MINUTE
    assert [state.change for state in changes.incidents] == ["resolved"]
    assert not changes.alerts  # the acknowledged overrun alert is the incident's again
    assert after.acknowledge(overrun.alert_id, "lead", "", T0 + 71 * MINUTE) is None
    assert not after.tick(T0 + 72 * MINUTE)  # no second overrun of the same stage
    assert not feed(after, [STORM[1]])  # an episode it holds does not join twice
    (cleared,) = after.transition(incident_id, "handling", "ops", "", T0 + 80 * MINUTE).alerts
    assert (cleared.alert_id, cleared.state) == (overrun.alert_id, "resolved")


def test_a_restart_resolves_overrun_alerts_of_incidents_that_moved_on() -> None:
    late, incident_id = opened()
    (overrun,) = late.tick(T0 + 16 * MINUTE).alerts
    # Its newest state is closed: the closing resolved its overrun alert, but that change
    # did not reach the record before the ingester stopped.
    closed = late.transition(incident_id, "closed", "ops", "", T0 + 17 * MINUTE).incidents
    after = desk()
    changes = after.restore(closed, [overrun], T0 + 20 * MINUTE)
    assert after.open == []
    (cleared,) = changes.alerts
    assert (cleared.alert_id, cleared.state) == (overrun.alert_id, "resolved")


def test_audit_points_carry_who_what_and_the_note() -> None:
    work, incident_id = opened()
    (entry,) = work.transition(incident_id, "dispatched", "duty officer", 'Line one\n"two"',
                               T0 + 5 * MINUTE).audit
    line = audit_point(entry)
    assert line.startswith(f"incident_audit,action=transition,category=flood-control,"
                           f"district=huangpu,incident_id={incident_id},stage=accepted ")
    assert 'by="duty officer"' in line
    assert 'note="Line one\n\\"two\\""' in line
    assert 'to="dispatched"' in line
    assert "minutes=5.0" in line


def test_an_incident_lists_its_first_200_episodes_and_counts_them_all() -> None:
    crowd = desk()
    wells = [alert("well-water", f"manhole-huangpu-{n:04d}", at=T0 + n) for n in range(205)]
    feed(crowd, wells)
    (incident,) = crowd.open
    assert (len(incident.alerts), incident.alerts_total, incident.active_alerts) == (
        200, 205, 205)
    assert incident.alerts[-1].sensor == "manhole-huangpu-0199"  # joining order
    after = desk()
    changes = after.restore([incident], wells[1:], T0 + HOUR_MS)  # the first one resolved
    (state,) = changes.incidents
    assert (state.alerts_total, state.active_alerts) == (205, 199)  # unlisted: not known

