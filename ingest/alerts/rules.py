"""Rules files: the generic rule types, the union with every kind's, loaded with each rule's line.

A rules file is YAML with one list, `rules`. Each rule has a `name` (a topic
level: lowercase a-z, 0-9, '-'), a `type`, a `severity`, and the fields of its
type. Durations are seconds or spans like `90s`, `10m`, `2h`
(`urbanpulse.durations`). A bad rule stops the ingester at start-up naming
the file, the line and the problem. A rules file may also hold a list
`inhibit_rules` (`ingest.alerts.inhibit` reads it); one without it loads as
before, and the notifications take the shipped inhibit rules.

The generic types (any kind, any metric) are defined here; a kind's own types
come from its `checks.py` (`RULES`, see `urbanpulse.kinds.alerting`). The
default rule set is the `rules.yaml` of every registered kind, in registry
order; `URBANPULSE_INGEST_RULES` names one file to load instead.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, TypeAlias, cast, get_args

import yaml
from pydantic import Field, TypeAdapter, ValidationError, model_validator

from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS, SensorKind, part
from urbanpulse.kinds.alerting import Check
from urbanpulse.kinds.rule import BaseRule, Duration
from urbanpulse.messages import AttributeValue

Rule: TypeAlias = BaseRule
"""A validated rule of any type (the models of the union all extend `BaseRule`)."""
RuleType = tuple[type[BaseRule], type[Check]]
"""A kind's rule type: its model, with the check built for each rule of it."""


class _MetricRule(BaseRule):
    metric: str
    judges_derived: ClassVar[bool] = False
    """Whether `metric` may also name a numeric derived field of the kind (`pm25_cal`)."""

    @model_validator(mode="after")
    def _metric_is_known(self) -> _MetricRule:
        kind = KINDS[self.kind]
        if self.metric in kind.metrics:
            return self
        message = (f"kind {self.kind!r} has no metric {self.metric!r}; its metrics are "
                   f"{', '.join(kind.metrics)}")
        if not self.judges_derived:
            raise ValueError(message)
        numeric = [name for name, field in kind.derived.items()
                   if field.type in ("float", "integer")]
        if self.metric not in numeric:
            raise ValueError(f"{message}, and its numeric derived fields "
                             f"{', '.join(numeric) or 'none'}")
        return self


class ThresholdRule(_MetricRule):
    """Fires when a metric stays beyond `above` (or `below`) for `for`; clears past `clear`."""

    type: Literal["threshold"]
    judges_derived: ClassVar[bool] = True
    above: float | None = None
    below: float | None = None
    clear: float | None = None

    @model_validator(mode="after")
    def _one_threshold(self) -> ThresholdRule:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' and 'below'")
        if self.clear is not None and (
                (self.above is not None and self.clear > self.above)
                or (self.below is not None and self.clear < self.below)):
            raise ValueError("'clear' must lie on the normal side of the threshold")
        return self


class RateOfChangeRule(_MetricRule):
    """Fires when a metric changes faster than `max_per_minute` between two readings."""

    type: Literal["rate_of_change"]
    max_per_minute: float = Field(gt=0)


class StepRule(_MetricRule):
    """Fires when a metric moves more than `by` off its median over the previous `window`.

    `direction` says which way counts (`rise`, `fall` or `both`). A step that
    holds for `for` is a new level (a burst main); one reading off and back is a
    spike, which resolves before it fires.
    """

    type: Literal["step"]
    by: float = Field(gt=0)
    direction: Literal["rise", "fall", "both"] = "both"
    window: Duration = Field(gt=0)


class StuckRule(_MetricRule):
    """Fires when a metric repeats within `tolerance` for `readings` readings in a row.

    With `qc: true` its alert marks the sensor's readings as failing quality
    control while it is active: the sensor's other per-reading rules do not
    judge them (QARTOD: a failed reading is kept out of exceedance checks).
    """

    type: Literal["stuck"]
    readings: int = Field(ge=2)
    tolerance: float = Field(0.0, ge=0)
    qc: bool = False


class RangeRule(_MetricRule):
    """Fires when a metric leaves its plausible (not physical) range: a suspect instrument.

    `qc: true` as for `stuck`.
    """

    type: Literal["range"]
    min: float
    max: float
    qc: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> RangeRule:
        if not self.min < self.max:
            raise ValueError("'min' must be below 'max'")
        return self


class StaleRule(BaseRule):
    """Fires when a sensor sends nothing for `factor` × its declared interval.

    `match` picks the sensors of the kind it watches by their birth attributes
    (`{device: bay}`; a list of values: any of them), so one kind's streams
    and its heartbeat-only devices can each have the factor that suits them.
    """

    type: Literal["stale"]
    factor: float = Field(3.0, gt=1)
    match: dict[str, AttributeValue | list[AttributeValue]] | None = None

    @model_validator(mode="after")
    def _match_names_attributes(self) -> StaleRule:
        known = KINDS[self.kind].attributes
        for name in self.match or {}:
            if name not in known:
                raise ValueError(f"match: kind {self.kind!r} has no attribute {name!r}; its "
                                 f"attributes are {', '.join(known) or 'none'}")
        return self

    def watches(self, attributes: Mapping[str, object]) -> bool:
        """Whether the rule watches a sensor whose birth carries `attributes`."""
        for name, wanted in (self.match or {}).items():
            value = attributes.get(name)
            if value != wanted and not (isinstance(wanted, list) and value in wanted):
                return False
        return True


class DistrictStaleRule(BaseRule):
    """Fires when at least `share` of a district's sensors of the kind are stale."""

    type: Literal["district_stale"]
    factor: float = Field(3.0, gt=1)
    share: float = Field(gt=0, le=1)
    min_sensors: int = Field(3, ge=1)


GENERIC: Final = (ThresholdRule, RateOfChangeRule, StuckRule, RangeRule, StaleRule,
                  DistrictStaleRule, StepRule)
"""The rule types of any kind; `stale` and `district_stale` are swept on a timer."""


def type_name(model: type[BaseRule]) -> str:
    """Return the `type` a rule model answers to (the one value of its `type` literal)."""
    names = get_args(model.model_fields["type"].annotation)
    if len(names) != 1 or not isinstance(names[0], str):
        raise ValueError(f"Rule type {model.__qualname__} must declare "
                         "`type: Literal[\"its-name\"]`.")
    return str(names[0])


def kind_rule_types(kind: SensorKind) -> tuple[RuleType, ...]:
    """Return the rule types a kind's `checks.py` declares (`RULES`), if it has one."""
    checks = part(kind, "checks")
    if checks is None:
        return ()
    found = getattr(checks, "RULES", None)
    if not isinstance(found, tuple) or not all(
            isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], type)
            and issubclass(pair[0], BaseRule) and isinstance(pair[1], type)
            and issubclass(pair[1], Check) for pair in found):
        raise ValueError(f"{checks.__name__}.RULES must be a tuple of (rule model, Check "
                         "class) pairs.")
    return found


def rule_types() -> dict[str, type[BaseRule]]:
    """Return the model of every rule type by name: the generic ones, then each kind's."""
    return dict(_models(tuple(KINDS)))


@functools.cache
def _models(kinds: tuple[str, ...]) -> dict[str, type[BaseRule]]:
    found: dict[str, type[BaseRule]] = {type_name(model): model for model in GENERIC}
    for kind in kinds:
        for model, _ in kind_rule_types(KINDS[kind]):
            name = type_name(model)
            if name in found:
                raise ValueError(f"Kind {kind!r} declares rule type {name!r}, which "
                                 f"{found[name].__module__} already declares.")
            found[name] = model
    return found


@functools.cache
def _adapter(kinds: tuple[str, ...]) -> TypeAdapter[BaseRule]:
    union = functools.reduce(operator.or_, _models(kinds).values())
    rule: Any = Annotated[union, Field(discriminator="type")]  # built at run time: no static type
    return TypeAdapter(cast(type[BaseRule], rule))


def parse_rule(data: Any) -> Rule:
    """Validate one rule given as a mapping (raises pydantic's ValidationError)."""
    return _adapter(tuple(KINDS)).validate_python(data)


def load_rules(path: Path | None = None) -> list[Rule]:
    """Load one rules file, or with None every registered kind's default rules.

    Raises:
        ConfigError: A file is unreadable or malformed, a rule is invalid (naming the
            file, the line and the problem), or two rules share a name.
    """
    if path is not None:
        return _load_file(path, set())
    rules: list[Rule] = []
    seen: set[str] = set()
    for kind in KINDS.values():
        rules.extend(load_kind_rules(kind, seen))
    return rules


def kind_rules_file(kind: SensorKind) -> Path | None:
    """Return the path of a kind's default rules (`rules.yaml` in its package), if it has one."""
    if not kind.package:
        return None
    source = files(kind.package).joinpath("rules.yaml")
    return Path(str(source)) if source.is_file() else None


def load_kind_rules(kind: SensorKind, seen: set[str] | None = None) -> list[Rule]:
    """Load a kind's default rules; each must be of that kind and not named in `seen`."""
    path = kind_rules_file(kind)
    return [] if path is None else _load_file(path, set() if seen is None else seen,
                                              kind=kind.name)


def file_entries(path: Path, key: str) -> list[tuple[int, Any]] | None:
    """Return each item of the list `key` of a rules file with its line; None without `key`.

    A rules file holds `rules` and may hold `inhibit_rules` (`ingest.alerts.inhibit`).

    Raises:
        ConfigError: The file is unreadable, not YAML, not a mapping, or `key` is no list.
    """
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"Cannot read the rules file {path}: {exc.strerror}.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"Rules file {path} is not valid YAML: {exc}.") from None
    if not isinstance(data, dict) or (key in data and not isinstance(data[key], list)):
        raise ConfigError(f"Rules file {path} must hold a mapping with a list {key!r}.")
    if key not in data:
        return None
    nodes = next(value for name, value in root.value if name.value == key).value  # type: ignore[union-attr]
    return [(node.start_mark.line + 1, raw) for node, raw in zip(nodes, data[key], strict=True)]


def _load_file(path: Path, seen: set[str], *, kind: str = "") -> list[Rule]:
    """Load one file; `kind`: the kind whose rules file it is (its rules must be of it)."""
    entries = file_entries(path, "rules")
    if entries is None:
        raise ConfigError(f"Rules file {path} must hold a mapping with a list 'rules'.")
    rules: list[Rule] = []
    for line, raw in entries:
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"Rules file {path}, line {line}" + (f" (rule {name!r})" if name else "")
        try:
            rule = parse_rule(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'][1:]) or 'rule'}: {error['msg']}"
                for error in exc.errors())
            raise ConfigError(f"{where}: {problems}.") from None
        if kind and rule.kind != kind:
            raise ConfigError(f"{where}: a rule of kind {rule.kind!r} in the rules of kind "
                              f"{kind!r}; move it to that kind's rules.yaml.")
        if rule.name in seen:
            raise ConfigError(f"{where}: a rule named {rule.name!r} already exists.")
        seen.add(rule.name)
        rules.append(rule)
    return rules

