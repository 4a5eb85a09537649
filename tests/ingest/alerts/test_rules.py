"""The rules file: the shipped one documents every type; a bad rule names file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.alerts.rules import DEFAULT_RULES, RULE_TYPES, load_rules
from urbanpulse.errors import ConfigError


def test_default_rules_load_and_use_every_rule_type() -> None:
    rules = load_rules(DEFAULT_RULES)
    assert {rule.type for rule in rules} == set(RULE_TYPES)
    assert len({rule.name for rule in rules}) == len(rules)


def test_durations_accept_units() -> None:
    by_name = {rule.name: rule for rule in load_rules(DEFAULT_RULES)}
    assert by_name["pm25-high"].for_s == 900
    assert by_name["lot-nearly-full"].for_s == 0


GOOD = """rules:
  - name: ok-rule
    type: threshold
    kind: air
    metric: pm25
    above: 100
    severity: low
"""


@pytest.mark.parametrize(("bad_rule", "line", "problem"), [
    ("  - name: bad\n    type: threshold\n    kind: air\n    metric: pm1\n    above: 1\n"
     "    severity: low\n", 8, "no metric 'pm1'"),
    ("  - name: bad\n    type: threshold\n    kind: radar\n    metric: pm25\n    above: 1\n"
     "    severity: low\n", 8, "kind 'radar'"),
    ("  - name: bad\n    type: teleport\n    kind: air\n    severity: low\n", 8, "teleport"),
    ("  - name: bad\n    type: threshold\n    kind: air\n    metric: pm25\n    above: 1\n"
     "    below: 0\n    severity: low\n", 8, "exactly one of"),
    ("  - name: bad\n    type: threshold\n    kind: air\n    metric: pm25\n    above: 10\n"
     "    clear: 20\n    severity: low\n", 8, "normal side"),
    ("  - name: bad\n    type: stale\n    kind: air\n    for: soon\n    severity: low\n", 8,
     "not a duration"),
    ("  - name: Bad Name\n    type: stale\n    kind: air\n    severity: low\n", 8, "name"),
    ("  - name: bad\n    type: stale\n    kind: air\n    severity: urgent\n", 8, "severity"),
    ("  - name: ok-rule\n    type: stale\n    kind: air\n    severity: low\n", 8,
     "already exists"),
    ("  - name: bad\n    type: stale\n    kind: air\n    severity: low\n    colour: red\n", 8,
     "colour"),
])
def test_a_bad_rule_names_the_file_the_line_and_the_problem(
        tmp_path: Path, bad_rule: str, line: int, problem: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD + bad_rule)
    with pytest.raises(ConfigError) as raised:
        load_rules(path)
    message = str(raised.value)
    assert f"{path}, line {line}" in message
    assert problem in message


@pytest.mark.parametrize(("text", "problem"), [
    ("rules: [", "not valid YAML"), ("- a\n- b\n", "list 'rules'"), ("rules: 3\n", "list"),
])
def test_a_malformed_file_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_rules(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read the rules file"):
        load_rules(tmp_path / "nope.yaml")
