"""Rules files: the shipped ones use every type; a bad rule names file, line and known names."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.alerts.conditions import checks
from ingest.alerts.rules import GENERIC, kind_rule_types, load_rules, rule_types, type_name
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS, register_module, unregister


def test_default_rules_load_and_use_every_rule_type() -> None:
    rules = load_rules()
    # No default rule judges the rate between two readings any more (a spike's way up is
    # one, docs/alerts.md): `rate_of_change` stays for operators' rules, tested on its own.
    assert {rule.type for rule in rules} == set(rule_types()) - {"rate_of_change"}
    assert len({rule.name for rule in rules}) == len(rules)


def test_rule_types_are_the_generic_ones_then_every_kinds() -> None:
    names = list(rule_types())
    assert names[:7] == ["threshold", "rate_of_change", "stuck", "range", "stale",
                         "district_stale", "step"]
    # then each registered kind's own types, in registry order
    assert names[7:] == [type_name(model) for kind in KINDS.values()
                         for model, _ in kind_rule_types(kind)]
    assert {"aqi", "energy_baseline", "night_baseload", "noise_limit", "water_class",
            "lamp_fault"} <= set(names[7:])
    # every per-reading type has a check; the swept ones have none
    assert set(checks()) == set(names) - {"stale", "district_stale"}
    assert [type_name(model) for model in GENERIC] == names[:7]


def test_default_rules_come_from_each_kinds_file_in_registry_order() -> None:
    kinds = [rule.kind for rule in load_rules()]
    assert kinds == sorted(kinds, key=list(KINDS).index)
    assert [rule.name for rule in load_rules() if rule.kind == "water"] == [
        "do-low", "turbidity-surge", "water-temperature-implausible",
        "water-temperature-off-neighbours", "nh3-n-check-failed", "codmn-check-failed",
        "tp-check-failed", "water-class-below-target", "water-analyser-frozen"]


def test_durations_accept_units() -> None:
    by_name = {rule.name: rule for rule in load_rules()}
    assert by_name["pm25-high"].for_s == 900
    assert by_name["night-baseload-high"].for_s == 3600
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
     "    severity: low\n", 8, "no metric 'pm1'; its metrics are pm25, pm10,"),
    ("  - name: bad\n    type: threshold\n    kind: radar\n    metric: pm25\n    above: 1\n"
     "    severity: low\n", 8, f"kind 'radar' is not one of {', '.join(KINDS)}"),
    ("  - name: bad\n    type: teleport\n    kind: air\n    severity: low\n", 8, "teleport"),
    ("  - name: bad\n    type: teleport\n    kind: air\n    severity: low\n", 8, "'aqi'"),
    ("  - name: bad\n    type: aqi\n    kind: water\n    min_level: 4\n    severity: low\n",
     8, "kind: Input should be 'air'"),
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


def test_a_users_file_is_loaded_alone(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    assert [rule.name for rule in load_rules(path)] == ["ok-rule"]


KIND_INIT = '''from urbanpulse.kinds.spec import Metric, SensorKind, metrics

SPEC = SensorKind(name="{name}", title="Test", description="A kind of a test",
                  interval_s=60, fiware_type="Device",
                  metrics=metrics(Metric("level", "m", 0, 10, "Level")))
'''


@pytest.fixture
def extra_kind(tmp_path: Path) -> Iterator[Path]:
    """Register a kind `gauge` from a package in `tmp_path`; yield its folder."""
    folder = tmp_path / "gauge_kind"
    folder.mkdir()
    (folder / "__init__.py").write_text(KIND_INIT.format(name="gauge"))
    sys.path.insert(0, str(tmp_path))
    try:
        yield folder
    finally:
        unregister("gauge")
        sys.path.remove(str(tmp_path))
        for module in [name for name in sys.modules if name.startswith("gauge_kind")]:
            del sys.modules[module]


def test_a_registered_kinds_rules_join_the_default_set(extra_kind: Path) -> None:
    (extra_kind / "rules.yaml").write_text(
        "rules:\n  - name: gauge-high\n    type: threshold\n    kind: gauge\n"
        "    metric: level\n    above: 9\n    severity: low\n")
    register_module("gauge_kind")
    assert [rule.name for rule in load_rules() if rule.kind == "gauge"] == ["gauge-high"]


@pytest.mark.parametrize(("rule", "problem"), [
    ("  - name: gauge-bad\n    type: threshold\n    kind: gauge\n    metric: depth\n"
     "    above: 9\n    severity: low\n", "kind 'gauge' has no metric 'depth'; its metrics are "
                                           "level"),
    ("  - name: gauge-bad\n    type: stale\n    kind: air\n    severity: low\n",
     "a rule of kind 'air' in the rules of kind 'gauge'"),
    ("  - name: pm25-high\n    type: stale\n    kind: gauge\n    severity: low\n",
     "a rule named 'pm25-high' already exists"),
])
def test_a_bad_rule_in_a_kinds_file_names_that_file_and_line(
        extra_kind: Path, rule: str, problem: str) -> None:
    path = extra_kind / "rules.yaml"
    path.write_text("rules:\n  - name: gauge-ok\n    type: stale\n    kind: gauge\n"
                    "    severity: low\n" + rule)
    register_module("gauge_kind")
    with pytest.raises(ConfigError) as raised:
        load_rules()
    message = str(raised.value)
    assert f"{path}, line 6" in message
    assert problem in message


def test_docs_describe_every_rule_type() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "alerts.md").read_text(encoding="utf-8")
    missing = [name for name in rule_types() if f"| `{name}` |" not in docs]
    assert not missing, f"docs/alerts.md lacks the rule types {missing}"
