"""Inhibition: outages mute the alerts they explain; inhibit rules load with their lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.alerts.inhibit import load_inhibit_rules
from ingest.alerts.rules import load_rules
from tests.ingest.alerts.notifying import MINUTE, RULES, SECOND, T0, Desk, sensors_of
from urbanpulse.errors import ConfigError

POLE = "streetlight-pudong-0001"
CARRIED = {"air-pudong-0001": {"carrier": POLE, "grade": "low-cost"}}


def test_a_district_outage_mutes_the_staleness_of_its_sensors() -> None:
    desk = Desk()
    for n in (1, 2, 3):
        desk.change("air-stale", f"air-pudong-000{n}", "firing")
        desk.run(desk.clock.now + 10 * SECOND)
    desk.change("air-district-stale", "district-pudong", "firing")
    desk.change("air-stale", "air-huangpu-0001", "firing", district="huangpu")
    sent = desk.run(T0 + 10 * MINUTE)
    assert [(n.district, n.rule) for n in sent] == [("pudong", "air-district-stale"),
                                                    ("huangpu", "air-stale")]
    assert desk.notifier.stats.inhibited == 3
    outage = sent[0]
    assert {(muted.sensor, muted.rule, muted.inhibit_rule) for muted in outage.muted} == {
        (f"air-pudong-000{n}", "air-stale", "district-outage") for n in (1, 2, 3)}
    assert sent[1].muted == []
    for n in (1, 2, 3):
        desk.change("air-stale", f"air-pudong-000{n}", "resolved")
    desk.change("air-district-stale", "district-pudong", "resolved")
    (resolved,) = desk.run(T0 + 30 * MINUTE)
    assert (resolved.rule, resolved.reason) == ("air-district-stale", "resolved")


def test_the_staleness_waits_the_hold_for_a_district_outage_judged_later() -> None:
    desk = Desk()
    desk.change("air-stale", "air-pudong-0001", "firing")
    desk.run(T0 + 90 * SECOND)  # past group_wait, within the 2 min hold
    desk.change("air-district-stale", "district-pudong", "firing")
    desk.change("parking-stale", "parking-pudong-0001", "firing")  # no district rule: no hold
    sent = desk.run(T0 + 10 * MINUTE)
    assert [n.rule for n in sent] == ["air-district-stale", "parking-stale"]
    assert sent[1].ts == T0 + 120 * SECOND, "its group_wait, no hold"


def test_staleness_no_outage_explains_pages_after_the_hold() -> None:
    desk = Desk()
    desk.change("air-stale", "air-pudong-0001", "firing")
    assert desk.run(T0 + 119 * SECOND) == []
    (stale,) = desk.run(T0 + 121 * SECOND)
    assert (stale.rule, stale.reason, stale.ts) == ("air-stale", "firing", T0 + 120 * SECOND)


def test_a_silent_pole_mutes_what_it_carries_judged_silent_long_before_it() -> None:
    desk = Desk(attributes=CARRIED)
    desk.change("air-stale", "air-pudong-0001", "firing")  # 3 min after the power went
    desk.run(T0 + 25 * MINUTE)
    desk.change("streetlight-silent", POLE, "firing")  # 20 to 30 min after it
    desk.change("pm25-high", "air-pudong-0001", "firing")  # any other alert of the station
    desk.run(T0 + 2 * 60 * MINUTE, step_ms=10 * SECOND)
    assert [(n.rule, n.reason) for n in desk.sent] == [("streetlight-silent", "firing")]
    assert desk.notifier.stats.inhibited == 2
    # The power comes back: the station reports within a minute, the pole later.
    desk.change("air-stale", "air-pudong-0001", "resolved")
    desk.change("pm25-high", "air-pudong-0001", "resolved")
    desk.run(desk.clock.now + 5 * MINUTE)
    desk.change("streetlight-silent", POLE, "resolved")
    desk.run(desk.clock.now + 10 * MINUTE)
    assert [(n.rule, n.reason) for n in desk.sent] == [("streetlight-silent", "firing"),
                                                        ("streetlight-silent", "resolved")]


def test_a_muted_alert_is_listed_with_what_mutes_it() -> None:
    desk = Desk(attributes=CARRIED)
    desk.change("streetlight-silent", POLE, "firing")
    desk.change("air-stale", "air-pudong-0001", "firing")  # dark with its pole
    desk.change("pm25-high", "air-pudong-0001", "firing")
    desk.change("pm25-high", "air-pudong-0002", "firing")
    (pm25,) = [n for n in desk.run(T0 + MINUTE) if n.rule == "pm25-high"]
    assert sensors_of(pm25) == {"air-pudong-0001": "firing", "air-pudong-0002": "firing"}
    muted = {a.sensor: a.inhibited_by for a in pm25.alerts}
    assert muted["air-pudong-0002"] is None
    by = muted["air-pudong-0001"]
    assert by is not None
    assert (by.inhibit_rule, by.rule, by.sensor) == ("carrier-outage", "streetlight-silent", POLE)
    assert (pm25.counts.firing, pm25.counts.inhibited) == (1, 1)


def test_a_pole_silent_alone_does_not_mute_a_station_on_it_that_reports() -> None:
    """The pole's controller failed, not its power: the station's alerts are real."""
    desk = Desk(attributes=CARRIED)
    desk.change("streetlight-silent", POLE, "firing")
    desk.run(T0 + 10 * MINUTE)
    desk.change("pm25-high", "air-pudong-0001", "firing")
    (pm25,) = desk.run(T0 + 11 * MINUTE)
    assert (pm25.rule, pm25.counts.firing, pm25.alerts[0].inhibited_by) == ("pm25-high", 1, None)
    assert desk.notifier.stats.inhibited == 0


def test_a_station_still_silent_after_its_pole_came_back_pages_after_the_hold() -> None:
    desk = Desk(attributes=CARRIED)
    desk.change("streetlight-silent", POLE, "firing")
    desk.change("air-stale", "air-pudong-0001", "firing")
    desk.run(T0 + 40 * MINUTE)
    desk.change("streetlight-silent", POLE, "resolved")
    back = desk.clock.now
    desk.run(back + 29 * MINUTE)
    assert [n.rule for n in desk.sent] == ["streetlight-silent", "streetlight-silent"]
    desk.run(back + 31 * MINUTE)
    assert [(n.rule, n.reason) for n in desk.sent[2:]] == [("air-stale", "firing")]


def test_without_inhibit_rules_every_group_pages() -> None:
    desk = Desk(inhibit_rules=[])
    desk.change("air-stale", "air-pudong-0001", "firing")
    desk.change("air-district-stale", "district-pudong", "firing")
    assert sorted(n.rule for n in desk.run(T0 + MINUTE)) == ["air-district-stale", "air-stale"]


def _rules_file(tmp_path: Path, inhibit: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n"
                    "  - {name: air-stale, type: stale, kind: air, severity: low}\n"
                    f"{inhibit}", encoding="utf-8")
    return path


@pytest.mark.parametrize(("entry", "problem"), [
    ("{name: x, source: {type: stale}, target: {carier: a}}", "unknown label 'carier'"),
    ("{name: x, source: {type: stael}}", "no type 'stael' is loaded"),
    ("{name: x, source: {rule: pm25-high}}", "no rule 'pm25-high' is loaded"),
    ("{name: x, source: {kind: bus}}", "no kind 'bus' is loaded"),
    ("{name: x, source: {type: stale}, link: {carrier: sensr}}", "unknown label 'sensr'"),
    ("{name: x, source: {}}", "source: Dictionary should have at least 1 item"),
    ("{name: x, source: {type: stale}, hold: soon}", "hold"),
    ("{name: x, source: {type: stale}, equals: [district]}", "equals: Extra inputs"),
])
def test_a_bad_inhibit_rule_stops_start_up_with_file_and_line(
        tmp_path: Path, entry: str, problem: str) -> None:
    path = _rules_file(tmp_path, f"inhibit_rules:\n  - {{name: ok, source: {{type: stale}}}}\n"
                                 f"  - {entry}\n")
    rules = load_rules(path)
    with pytest.raises(ConfigError, match=rf"Rules file {path}, line 5 \(inhibit rule 'x'\): "
                                          f".*{problem}"):
        load_inhibit_rules(path, rules)


def test_a_rules_file_may_carry_inhibit_rules_or_take_the_shipped_ones(tmp_path: Path) -> None:
    old = _rules_file(tmp_path, "")
    assert [rule.name for rule in load_rules(old)] == ["air-stale"], "old files load as before"
    shipped = [rule.name for rule in load_inhibit_rules(old, load_rules(old))]
    assert shipped == ["district-outage", "carrier-outage-silence", "carrier-outage"]
    assert load_inhibit_rules(_rules_file(tmp_path, "inhibit_rules: []\n"), RULES) == []
    with pytest.raises(ConfigError, match="must hold a mapping with a list 'inhibit_rules'"):
        load_inhibit_rules(_rules_file(tmp_path, "inhibit_rules: {}\n"), RULES)


def test_the_shipped_inhibit_rules_load_against_the_shipped_rules() -> None:
    loaded = load_inhibit_rules(None, load_rules())
    assert {rule.name: rule.hold_s for rule in loaded} == {
        "district-outage": 120, "carrier-outage-silence": 1800, "carrier-outage": 0}
