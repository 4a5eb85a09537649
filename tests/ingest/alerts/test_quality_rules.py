"""What the quality goal added to the rules: a step to a new level, QC that holds a sensor's
other rules, and staleness rules that pick their sensors by birth attributes."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.alerts.engine import AlertEngine
from ingest.alerts.rules import Rule, parse_rule
from urbanpulse.errors import ConfigError
from urbanpulse.messages import Alert, Reading, SensorBirth

T0 = 1_795_000_000_000
MINUTE = 60_000


def _rules(*specs: dict[str, Any]) -> list[Rule]:
    return [parse_rule(spec) for spec in specs]


def _pressure(mpa: float, minute: int) -> Reading:
    return Reading(v=1, sensor="pressure-pudong-0001", kind="pressure", district="pudong",
                   ts=T0 + minute * MINUTE, seq=minute, values={"pressure_mpa": mpa})


def _states(changes: list[Alert]) -> list[tuple[str, int]]:
    return [(change.state, (change.ts - T0) // MINUTE) for change in changes]


BURST = {"name": "burst", "type": "step", "kind": "pressure", "metric": "pressure_mpa",
         "by": 0.04, "direction": "fall", "window": "10m", "for": "2m", "severity": "high"}


def _run(engine: AlertEngine, levels: list[float]) -> list[Alert]:
    changes: list[Alert] = []
    for minute, level in enumerate(levels):
        changes += engine.evaluate(_pressure(level, minute), T0)
    return changes


def test_a_step_that_holds_fires_after_for_and_resolves_once_the_median_catches_up() -> None:
    changes = _run(AlertEngine(_rules(BURST)), [0.30] * 10 + [0.20] * 12)
    # Pending at the drop (minute 10), firing two minutes on; the median of the previous
    # ten minutes reaches the new level at minute 16, half a window after the drop.
    assert _states(changes) == [("pending", 10), ("firing", 12), ("resolved", 16)]
    assert "0.1 below its median of the previous 10 min" in changes[1].message


def test_a_spike_and_a_rise_are_not_a_burst() -> None:
    spike = [0.30] * 10 + [0.05] + [0.30] * 5  # one reading off, back at the next
    assert _states(_run(AlertEngine(_rules(BURST)), spike)) == [("pending", 10),
                                                                 ("resolved", 11)]
    assert _run(AlertEngine(_rules(BURST)), [0.30] * 10 + [0.45] * 10) == []  # rises
    both = {**BURST, "direction": "both", "for": 0}
    assert _states(_run(AlertEngine(_rules(both)), [0.30] * 10 + [0.45] * 2)) == [
        ("firing", 10)]


def _lamp(minute: int, volts: float, lamp_on: float) -> Reading:
    return Reading(v=1, sensor="streetlight-pudong-0001", kind="streetlight",
                   district="pudong", ts=T0 + minute * MINUTE, seq=minute,
                   values={"voltage_v": volts, "lamp_on": lamp_on})


FROZEN = {"name": "frozen", "type": "stuck", "kind": "streetlight", "metric": "voltage_v",
          "readings": 3, "qc": True, "severity": "low"}
DARK = {"name": "dark", "type": "threshold", "kind": "streetlight", "metric": "lamp_on",
        "below": 0.5, "severity": "medium"}


def test_an_active_qc_alert_keeps_the_sensors_other_rules_from_judging_its_readings() -> None:
    engine = AlertEngine(_rules(DARK, FROZEN))  # the QC rule is judged first, whatever the order
    changes: list[Alert] = []
    for minute, (volts, lamp) in enumerate([(220.1, 1), (220.4, 1), (220.4, 1), (220.4, 1),
                                            (220.4, 0), (220.4, 0), (219.8, 0)]):
        changes += engine.evaluate(_lamp(minute, volts, lamp), T0)
    # Frozen from the third equal voltage (minute 3): the lamp "off" at minutes 4 and 5 is
    # not judged; the voltage moves at minute 6, QC passes, and the lamp rule judges again.
    assert [(c.rule, c.state, (c.ts - T0) // MINUTE) for c in changes] == [
        ("frozen", "firing", 3), ("frozen", "resolved", 6), ("dark", "firing", 6)]


def test_without_qc_a_flat_line_does_not_hold_the_other_rules() -> None:
    engine = AlertEngine(_rules(DARK, {**FROZEN, "qc": False}))
    changes: list[Alert] = []
    for minute, lamp in enumerate([1, 1, 1, 0]):
        changes += engine.evaluate(_lamp(minute, 220.4, lamp), T0)
    assert [(c.rule, c.state) for c in changes] == [("frozen", "firing"), ("dark", "firing")]


def _birth(sensor: str, device: str, interval_s: int) -> SensorBirth:
    return SensorBirth(v=1, sensor=sensor, kind="parking", district="pudong", site="s",
                       lat=31.2, lon=121.5, zone="cbd", interval_s=interval_s, ts=T0,
                       attributes={"device": device})


def test_a_stale_rule_with_a_match_watches_only_the_sensors_whose_births_match() -> None:
    engine = AlertEngine(_rules(
        {"name": "lot-stale", "type": "stale", "kind": "parking", "match": {"device": "lot"},
         "factor": 3, "severity": "info"},
        {"name": "bay-stale", "type": "stale", "kind": "parking",
         "match": {"device": ["bay", "kerb"]}, "factor": 1.5, "severity": "info"}))
    engine.register(_birth("parking-pudong-0001", "lot", 60), T0)
    engine.register(_birth("parking-pudong-0002", "bay", 86_400), T0)
    fired = engine.sweep(T0 + 181_000)  # the lot after 3 minutes; the bay's 36 h are far off
    assert [(a.rule, a.sensor) for a in fired] == [("lot-stale", "parking-pudong-0001")]
    later = engine.sweep(T0 + 36 * 3_600_000 + 1000)
    assert [(a.rule, a.sensor, a.state) for a in later] == [
        ("bay-stale", "parking-pudong-0002", "firing")]


def test_a_match_names_attributes_of_the_kind() -> None:
    with pytest.raises(ValueError, match="match: kind 'parking' has no attribute 'colour'"):
        parse_rule({"name": "x", "type": "stale", "kind": "parking", "match": {"colour": "red"},
                    "severity": "info"})
    with pytest.raises((ValueError, ConfigError)):
        parse_rule({"name": "x", "type": "district_stale", "kind": "air", "share": 0.3,
                    "match": {"grade": "low-cost"}, "severity": "info"})
