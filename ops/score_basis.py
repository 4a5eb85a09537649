"""Which truth each rule is scored on: its `Basis`, derived from the rule and checked at load.

The rules files do not say it, so `urbanpulse score` derives it, in this order:

1. **device-health** when the rule watches the instrument rather than the city:
   its type judges silence, a flat line, a plausible range or the agreement
   with neighbouring stations (`stale`, `district_stale`, `stuck`, `range`,
   `temperature_neighbours`), its metric is a device's own health
   (battery, radio signal), or every type in its `detects` is a device fault
   of its kind (a threshold meant to catch a `bias`);
2. otherwise by its type: **condition** for the types that report a level of
   the real state (`threshold` and the national-standard categories `aqi`,
   `noise_limit`, `water_class`), **incident** for the types that infer a
   cause from the signal's shape (`rate_of_change`, the energy baselines, dry-
   weather flow, lamp faults, a step to a new level).

A rule of a type this table does not know stops the command at start-up with
a sentence naming the rule and the type: a new rule type must say here what
its alerts are for before they can be scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from ingest.alerts.rules import DistrictStaleRule, StaleRule
from ops.score import Basis, Target
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.rule import BaseRule

DEVICE_TYPES: Final = frozenset({"stale", "district_stale", "stuck", "range",
                                 "temperature_neighbours"})
"""Rule types that judge the instrument: silence, a flat line, an implausible value, a
reading far off its neighbours' (QARTOD's neighbour test)."""
DEVICE_METRICS: Final = frozenset({"battery_mv", "battery_v", "rsrp", "snr"})
"""Metrics of a device's own health: a threshold on them watches the device."""
TYPE_BASES: Final[Mapping[str, Basis]] = {
    "threshold": Basis.CONDITION,
    "aqi": Basis.CONDITION,
    "noise_limit": Basis.CONDITION,
    "water_class": Basis.CONDITION,
    "rate_of_change": Basis.INCIDENT,
    "step": Basis.INCIDENT,
    "energy_baseline": Basis.INCIDENT,
    "night_baseload": Basis.INCIDENT,
    "dry_weather_flow": Basis.INCIDENT,
    "lamp_fault": Basis.INCIDENT,
}
"""The basis of each other rule type: a level of the real state, or a cause inferred."""


def basis_of(rule: BaseRule) -> Basis:
    """Return what `rule`'s alerts are scored against, or raise ConfigError for an unknown type."""
    faults = KINDS[rule.kind].faults
    if (rule.type in DEVICE_TYPES or getattr(rule, "metric", None) in DEVICE_METRICS
            or (rule.detects and set(rule.detects) <= faults)):
        return Basis.DEVICE
    try:
        return TYPE_BASES[rule.type]
    except KeyError:
        known = ", ".join(sorted(DEVICE_TYPES | set(TYPE_BASES)))
        raise ConfigError(
            f"Rule {rule.name!r} is of type {rule.type!r}, which `urbanpulse score` cannot "
            f"class as a device-health, incident or condition rule; the classed types are "
            f"{known} (ops/score_basis.py says what each is scored on).") from None


def targets(rules: Sequence[BaseRule],
            births: Mapping[str, tuple[str, Mapping[str, object]]] | None = None
            ) -> list[Target]:
    """Return the scoring target of each rule: its kind, `detects` types, basis and `for`.

    `births` (each sensor's kind and birth attributes) gives a rule whose type
    narrows the sensors it watches (`BaseRule.watches`) those sensors; without
    them, every sensor of its kind.
    """
    return [Target(rule.name, rule.kind,
                   None if rule.detects is None else frozenset(rule.detects), basis_of(rule),
                   _watched(rule, births), rule.for_s,
                   isinstance(rule, StaleRule | DistrictStaleRule))
            for rule in rules]


def _watched(rule: BaseRule, births: Mapping[str, tuple[str, Mapping[str, object]]] | None
             ) -> frozenset[str] | None:
    """Return the sensors a rule whose type narrows them watches (None: all of its kind).

    A staleness rule's `match`, the night baseload's building types: `BaseRule.watches`.
    """
    if births is None or type(rule).watches is BaseRule.watches:
        return None
    return frozenset(sensor for sensor, (kind, declared) in births.items()
                     if kind == rule.kind and rule.watches(declared))
