"""Inhibition as data: an active outage mutes the notifications of the alerts it explains.

An inhibit rule is Alertmanager's `inhibit_rules` entry: while an alert that
matches its `source` is firing or acknowledged, the alerts that match its
`target` and share the source's values of the `equal` labels page nobody.
`link` relates labels of different names: `{carrier: sensor}` says the
target's `carrier` is the source's `sensor` (a pole and what it carries).
`hold` keeps a target from paging that long after it fired while no source is
there yet, for an outage judged later than the silence it explains.
`target_silent: true` mutes a target only while its own sensor is silent too
(an alert of a `stale` rule on it is active): a pole whose controller alone
failed must not mute a station on it that still reports.

An alert's labels are `rule`, `type` (its rule's type), `kind`, `district`,
`sensor`, `severity`, and the attributes of its sensor's birth, as strings. A
matcher maps a label to a value or a list of values (any of them); a label
missing from an alert matches nothing, and an `equal` or `link` label missing
from either side joins nothing.

The shipped rules are `inhibit.yaml` beside this module; a rules file named by
URBANPULSE_INGEST_RULES may hold its own `inhibit_rules` list instead. A rule
naming an unknown label, rule, rule type, kind or severity stops the ingester
at start-up with the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ingest.alerts.rules import Rule, file_entries, rule_types
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.rule import Duration, Name
from urbanpulse.messages import Alert, InhibitedBy, Severity

DEFAULTS: Final = Path(__file__).with_name("inhibit.yaml")
"""The shipped inhibit rules."""
ALERT_LABELS: Final = ("rule", "type", "kind", "district", "sensor", "severity")
"""The labels every alert has; the attributes of its sensor's birth come beside them."""
RULE_LABELS: Final = frozenset({"rule", "type", "kind", "severity"})
"""The labels an alert takes from its rule alone, known before any alert fires."""
SILENCE: Final = "stale"
"""The rule type whose active alert says its sensor is silent (for `target_silent`)."""

Labels = Mapping[str, str]


def label_text(value: object) -> str:
    """Return a label value as text: attributes may be numbers or booleans (`true`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def alert_labels(alert: Alert, rule_type: str, attributes: Mapping[str, object]) -> dict[str, str]:
    """Return the labels of `alert`; its birth's attributes never shadow the alert's own."""
    labels = {name: label_text(value) for name, value in attributes.items()}
    labels.update(rule=alert.rule, type=rule_type, kind=alert.kind, district=alert.district,
                  sensor=alert.sensor, severity=alert.severity)
    return labels


def _values(value: Any) -> Any:
    values = value if isinstance(value, list) else [value]
    if all(isinstance(item, str | int | float | bool) for item in values):
        return frozenset(label_text(item) for item in values)
    return value  # not text: pydantic says why


Matchers = dict[str, Annotated[frozenset[str], BeforeValidator(_values)]]


class InhibitRule(BaseModel):
    """One inhibit rule of a rules file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    source: Annotated[Matchers, Field(min_length=1)]
    target: Matchers = {}
    equal: tuple[str, ...] = ()
    link: dict[str, str] = {}
    hold_s: Annotated[Duration, Field(alias="hold")] = 0.0
    target_silent: bool = False
    description: str = ""

    def matches_source(self, labels: Labels) -> bool:
        """Tell whether an alert with `labels` is a source of this rule."""
        return _match(self.source, labels)

    def matches_target(self, labels: Labels) -> bool:
        """Tell whether an alert with `labels` is a target of this rule."""
        return _match(self.target, labels)

    def source_key(self, labels: Labels) -> tuple[str, ...] | None:
        """Return what a target must share with this source; None when a label is missing."""
        return _key(labels, (*self.equal, *self.link.values()))

    def target_key(self, labels: Labels) -> tuple[str, ...] | None:
        """Return what a source must share with this target; None when a label is missing."""
        return _key(labels, (*self.equal, *self.link))


def _match(matchers: Mapping[str, frozenset[str]], labels: Labels) -> bool:
    return all(labels.get(name) in values for name, values in matchers.items())


def _key(labels: Labels, names: Sequence[str]) -> tuple[str, ...] | None:
    key = []
    for name in names:
        value = labels.get(name)
        if value is None:
            return None
        key.append(value)
    return tuple(key)


def load_inhibit_rules(path: Path | None, rules: Sequence[Rule]) -> list[InhibitRule]:
    """Return the `inhibit_rules` of the rules file at `path`, else the shipped ones.

    Raises:
        ConfigError: A file is unreadable or malformed, or an inhibit rule is invalid or
            names an unknown label, rule, rule type, kind or severity (with file and line).
    """
    entries = file_entries(path, "inhibit_rules") if path is not None else None
    if entries is None:
        path = DEFAULTS
        entries = file_entries(path, "inhibit_rules") or []
    known = _known_values(rules)
    labels = sorted({*ALERT_LABELS, *(name for kind in KINDS.values()
                                       for name in kind.attributes)})
    loaded: list[InhibitRule] = []
    for line, raw in entries:
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"Rules file {path}, line {line}" + (f" (inhibit rule {name!r})" if name else "")
        try:
            rule = InhibitRule.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'inhibit rule'}: "
                f"{error['msg']}" for error in exc.errors())
            raise ConfigError(f"{where}: {problems}.") from None
        if problem := _unknown_name(rule, labels, known):
            raise ConfigError(f"{where}: {problem}.")
        if any(rule.name == other.name for other in loaded):
            raise ConfigError(f"{where}: an inhibit rule named {rule.name!r} already exists.")
        loaded.append(rule)
    return loaded


def _known_values(rules: Sequence[Rule]) -> dict[str, list[str]]:
    """Return the values a matcher of each rule label may name."""
    return {"rule": [rule.name for rule in rules], "type": sorted(rule_types()),
            "kind": list(KINDS), "severity": list(get_args(Severity))}


def _unknown_name(rule: InhibitRule, labels: Sequence[str],
                  known: Mapping[str, Sequence[str]]) -> str | None:
    """Return what `rule` names that does not exist, as a sentence part; None if nothing."""
    named = [*rule.source, *rule.target, *rule.equal, *rule.link, *rule.link.values()]
    for label in named:
        if label not in labels:
            return f"unknown label {label!r}; the labels are {', '.join(labels)}"
    for matchers in (rule.source, rule.target):
        for label, values in matchers.items():
            if unknown := sorted(values - set(known.get(label, values))):
                return (f"no {label} {unknown[0]!r} is loaded; the {label} values are "
                        f"{', '.join(known[label])}")
    return None


class Inhibitor:
    """Keeps the active sources of every inhibit rule and says what inhibits an alert."""

    def __init__(self, rules: Sequence[InhibitRule], alert_rules: Sequence[Rule]) -> None:
        self._rules = list(rules)
        # Per inhibit rule: source key -> the active sources under it, by alert id.
        self._sources: list[dict[tuple[str, ...], dict[str, Alert]]] = [{} for _ in rules]
        self._indexed: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        # Per inhibit rule: the rule labels of each alert rule that can be its source.
        self._possible = [
            [labels for labels in ({"rule": alert_rule.name, "type": alert_rule.type,
                                    "kind": alert_rule.kind, "severity": alert_rule.severity}
                                   for alert_rule in alert_rules)
             if all(labels[name] in values for name, values in rule.source.items()
                    if name in RULE_LABELS)]
            for rule in rules]
        self._holds = {rule.name: int(rule.hold_s * 1000) for rule in rules}
        self._silent: dict[str, set[str]] = {}  # sensor -> its active staleness alerts

    def update(self, alert: Alert, labels: Labels, active: bool) -> bool:
        """Take an alert's new state; return True when it stopped being an active source."""
        if labels.get("type") == SILENCE:
            silences = self._silent.setdefault(alert.sensor, set())
            if active:
                silences.add(alert.alert_id)
            else:
                silences.discard(alert.alert_id)
                if not silences:
                    del self._silent[alert.sensor]
        was_source = self._indexed.pop(alert.alert_id, None)
        for index, key in was_source or ():
            sources = self._sources[index][key]
            del sources[alert.alert_id]
            if not sources:
                del self._sources[index][key]
        if not active:
            return bool(was_source)
        indexed = []
        for index, rule in enumerate(self._rules):
            joined = rule.source_key(labels) if rule.matches_source(labels) else None
            if joined is not None:
                self._sources[index].setdefault(joined, {})[alert.alert_id] = alert
                indexed.append((index, joined))
        if indexed:
            self._indexed[alert.alert_id] = indexed
        return False

    def inhibited_by(self, alert_id: str, labels: Labels) -> InhibitedBy | None:
        """Return what inhibits the alert with `labels` now (the first rule that does), if any."""
        for index, rule in enumerate(self._rules):
            if not rule.matches_target(labels) or (
                    rule.target_silent and labels.get("sensor") not in self._silent):
                continue
            key = rule.target_key(labels)
            if key is None:
                continue
            for source_id, source in self._sources[index].get(key, {}).items():
                if source_id != alert_id:
                    return InhibitedBy(inhibit_rule=rule.name, alert_id=source_id,
                                       rule=source.rule, sensor=source.sensor)
        return None

    def hold_ms(self, labels: Labels) -> int:
        """Return how long the alert with `labels` waits for a source that may come."""
        return max((self._holds[rule.name] for index, rule in enumerate(self._rules)
                    if self._holds[rule.name] and self._could_inhibit(index, rule, labels)),
                   default=0)

    def rule_hold_ms(self, name: str) -> int:
        """Return the hold of the inhibit rule called `name`."""
        return self._holds[name]

    def _could_inhibit(self, index: int, rule: InhibitRule, labels: Labels) -> bool:
        """Tell whether some loaded alert rule could fire a source of `rule` for `labels`."""
        if not rule.matches_target(labels) or rule.target_key(labels) is None:
            return False
        joined = [(target, source) for target, source in
                  (*((name, name) for name in rule.equal), *rule.link.items())
                  if source in RULE_LABELS]
        return any(all(possible[source] == labels[target] for target, source in joined)
                   for possible in self._possible[index])
