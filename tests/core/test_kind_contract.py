"""The contract every sensor kind passes, parametrised over the registry: pure, no servers.

A kind is one folder: it has the simulator's parts, derives exactly the
fields it declares, ships rules that load, pairs each rule type of its own
with a check and a rule in its rules file, refuses readings outside its
physical ranges, and imports nothing but the contract. Readings through
mosquitto and the ingester into InfluxDB are the end-to-end tests' part.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path
from typing import get_args

import pytest

from ingest.alerts.rules import kind_rule_types, kind_rules_file, load_kind_rules, type_name
from ingest.decode import Decoder, Rejected
from ingest.derive import ZONED, derive_encoded
from urbanpulse.kinds import KINDS, SensorKind, part
from urbanpulse.kinds.alerting import Check
from urbanpulse.lineprotocol import encode_fields
from urbanpulse.messages import Reading, encoder
from urbanpulse.standards import ZONES
from urbanpulse.topics import reading_topic

KIND_NAMES = list(KINDS)
LAYERS = ("simulator", "ingest", "api", "grafana")
FIELD_TYPES = {"integer": int, "float": float, "boolean": bool, "string": str}
T0 = 1_795_000_000_000


def _decoder() -> Decoder:
    return Decoder(root="city", max_payload_bytes=16_384, max_future_s=300, max_age_s=86_400)


def _reading(kind: SensorKind, values: dict[str, float], ts: int = T0) -> Reading:
    return Reading(v=1, sensor=f"{kind.name}-pudong-0001", kind=kind.name, district="pudong",
                   ts=ts, seq=7, values=values)


def _samples(kind: SensorKind) -> list[Reading]:
    """Readings with every metric low in its range, at hours round the clock."""
    return [_reading(kind, {m.name: round(m.low + share * (m.high - m.low), 3)
                            for m in kind.metrics.values()}, T0 + hour * 3_600_000)
            for share in (0.001, 0.01, 0.05) for hour in range(0, 24, 5)]


def test_registry_has_the_built_in_kinds_in_name_order() -> None:
    assert sorted(KIND_NAMES) == KIND_NAMES
    assert set(KIND_NAMES) >= {"air", "dma-flow", "energy", "gas", "manhole", "noise",
                               "parking", "ponding", "pressure", "pump", "rain", "sewer",
                               "streetlight", "tap-water", "tunnel", "water"}


@pytest.mark.parametrize("name", KIND_NAMES)
def test_kind_has_the_simulators_parts(name: str) -> None:
    assert part(name, "model") is not None, f"{name} has no model.py"
    assert part(name, "layout") is not None, f"{name} has no layout.py"


@pytest.mark.parametrize("name", KIND_NAMES)
def test_kind_derives_exactly_when_it_declares_derived_fields(name: str) -> None:
    kind = KINDS[name]
    module = part(kind, "derive")
    assert (module is not None) == bool(kind.derived)
    if module is not None:
        assert callable(module.derive_encoded)
    assert (name in ZONED) == kind.zoned


@pytest.mark.parametrize("name", [name for name in KIND_NAMES if KINDS[name].derived])
def test_derived_fields_are_declared_typed_and_encoded(name: str) -> None:
    kind = KINDS[name]
    zones = sorted(ZONES) if kind.zoned else [None]
    seen: set[str] = set()
    for reading in _samples(kind):
        for zone in zones:
            fields, text = derive_encoded(reading, zone)
            assert set(fields) <= set(kind.derived), f"{name} derives undeclared fields"
            for field, value in fields.items():
                assert type(value) is FIELD_TYPES[kind.derived[field].type], field
            assert text == (encode_fields(fields) if fields else "")
            seen |= set(fields)
    assert seen, f"no sample reading of {name} derived anything"


@pytest.mark.parametrize("name", KIND_NAMES)
def test_kind_ships_rules_that_load(name: str) -> None:
    kind = KINDS[name]
    assert kind_rules_file(kind) is not None, f"{name} has no rules.yaml"
    rules = load_kind_rules(kind)
    assert rules
    assert {rule.kind for rule in rules} == {name}
    for rule in rules:  # a rule says what it is for, and the scorer can measure it
        assert rule.description, rule.name
        assert rule.detects, rule.name


@pytest.mark.parametrize("name", KIND_NAMES)
def test_kinds_own_rule_types_have_a_check_and_a_shipped_rule(name: str) -> None:
    kind = KINDS[name]
    shipped = {rule.type for rule in load_kind_rules(kind)}
    for model, check in kind_rule_types(kind):
        assert issubclass(check, Check)
        assert type_name(model) in shipped, f"{name} ships no {type_name(model)} rule"
        assert get_args(model.model_fields["kind"].annotation) == (name,)
        assert model.model_fields["kind"].default == name


@pytest.mark.parametrize("name", KIND_NAMES)
def test_kind_refuses_values_outside_its_physical_range(name: str) -> None:
    kind = KINDS[name]
    now = int(time.time() * 1000)
    for metric in kind.metrics.values():
        for value in (metric.low - 1, metric.high + 1):
            reading = _reading(kind, {metric.name: value}, now)
            topic = reading_topic("pudong", name, reading.sensor)
            result = _decoder().reading(topic, encoder.encode(reading), now)
            assert isinstance(result, Rejected)
            assert result.reason == "out-of-range"


@pytest.mark.parametrize("name", KIND_NAMES)
def test_kind_imports_only_the_contract(name: str) -> None:
    package = KINDS[name].package
    assert package
    folder = Path(__import__(package, fromlist=["SPEC"]).__file__ or "").parent
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for imported in names:
                assert imported.split(".")[0] not in LAYERS, f"{path.name} imports {imported}"
