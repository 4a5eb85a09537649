"""The rules file: every rule type as a pydantic model, loaded with the line of each rule.

A rules file is YAML with one list, `rules`. Each rule has a `name` (a topic
level: lowercase a-z, 0-9, '-'), a `type`, a `severity`, and the fields of its
type. Durations are seconds or strings like `90s`, `10m`, `2h`. A bad rule
stops the ingester at start-up naming the file, the line and the problem.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from urbanpulse.kinds import KINDS
from urbanpulse.errors import ConfigError
from urbanpulse.topics import NAME_PATTERN

DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)?$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, None: 1}


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not a duration like 90s, 10m or 2h")
        return float(match.group(1)) * _SECONDS[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
Severity = Literal["info", "low", "medium", "high", "critical"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    severity: Severity
    description: str = ""
    kind: str
    for_s: Annotated[Duration, Field(alias="for")] = 0.0
    repeat_s: Annotated[Duration, Field(alias="repeat_after")] = 0.0
    detects: tuple[Annotated[str, Field(pattern=NAME_PATTERN)], ...] | None = None
    """Truth types (simulator faults and incidents) the rule is meant to catch, for scoring."""

    @field_validator("kind")
    @classmethod
    def _kind_is_known(cls, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(sorted(KINDS))}")
        return kind


class _MetricRule(_Rule):
    metric: str

    @model_validator(mode="after")
    def _metric_is_known(self) -> _MetricRule:
        if self.metric not in KINDS[self.kind].metrics:
            raise ValueError(f"kind {self.kind!r} has no metric {self.metric!r}")
        return self


class ThresholdRule(_MetricRule):
    """Fires when a metric stays beyond `above` (or `below`) for `for`; clears past `clear`."""

    type: Literal["threshold"]
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


class StuckRule(_MetricRule):
    """Fires when a metric repeats within `tolerance` for `readings` readings in a row."""

    type: Literal["stuck"]
    readings: int = Field(ge=2)
    tolerance: float = Field(0.0, ge=0)


class RangeRule(_MetricRule):
    """Fires when a metric leaves its plausible (not physical) range: a suspect instrument."""

    type: Literal["range"]
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> RangeRule:
        if not self.min < self.max:
            raise ValueError("'min' must be below 'max'")
        return self


class StaleRule(_Rule):
    """Fires when a sensor sends nothing for `factor` × its declared interval."""

    type: Literal["stale"]
    factor: float = Field(3.0, gt=1)


class DistrictStaleRule(_Rule):
    """Fires when at least `share` of a district's sensors of the kind are stale."""

    type: Literal["district_stale"]
    factor: float = Field(3.0, gt=1)
    share: float = Field(gt=0, le=1)
    min_sensors: int = Field(3, ge=1)


class AqiRule(_Rule):
    """Fires when the HJ 633 AQI category reaches `min_level` (1 excellent … 6 severe).

    It clears only when the category has dropped a whole step below the
    triggering one (`clear_level`, default `min_level` − 2), so a reading
    hovering on a category boundary does not flap.
    """

    type: Literal["aqi"]
    kind: Literal["air"] = "air"
    min_level: int = Field(ge=2, le=6)
    clear_level: int | None = Field(None, ge=1, le=5)

    @model_validator(mode="after")
    def _clear_below(self) -> AqiRule:
        if self.clear_level is not None and self.clear_level >= self.min_level:
            raise ValueError("'clear_level' must be below 'min_level'")
        return self


class WaterClassRule(_Rule):
    """Fires when a station's GB 3838 class is `by` classes or more worse than its target."""

    type: Literal["water_class"]
    kind: Literal["water"] = "water"
    by: int = Field(1, ge=1, le=5)


class NoiseLimitRule(_Rule):
    """Fires when LAeq exceeds the GB 3096 limit of the monitor's zone by more than `margin_db`.

    Day (06:00–22:00) and night limits follow the local hour of the reading.
    """

    type: Literal["noise_limit"]
    kind: Literal["noise"] = "noise"
    margin_db: float = Field(0.0, ge=0)


class EnergyBaselineRule(_Rule):
    """Fires when a building draws `factor` × its usual power for the hour of the week.

    The baseline is learnt per building: an exponentially weighted mean for each
    of the 168 hours of the week (weight `alpha`), used once it has `min_samples`.
    """

    type: Literal["energy_baseline"]
    kind: Literal["energy"] = "energy"
    factor: float = Field(1.3, gt=1)
    alpha: float = Field(0.2, gt=0, le=1)
    min_samples: int = Field(2, ge=1)


class NightBaseloadRule(_Rule):
    """Fires when night power (local 00:00–05:00) stays above `share` of the day's peak."""

    type: Literal["night_baseload"]
    kind: Literal["energy"] = "energy"
    share: float = Field(0.5, gt=0, lt=1)


Rule = Annotated[ThresholdRule | RateOfChangeRule | StuckRule | RangeRule | StaleRule
                 | DistrictStaleRule | AqiRule | WaterClassRule | NoiseLimitRule
                 | EnergyBaselineRule | NightBaseloadRule, Field(discriminator="type")]
RULE_TYPES = ("threshold", "rate_of_change", "stuck", "range", "stale", "district_stale",
              "aqi", "water_class", "noise_limit", "energy_baseline", "night_baseload")
_adapter: TypeAdapter[Rule] = TypeAdapter(Rule)


def parse_rule(data: Any) -> Rule:
    """Validate one rule given as a mapping (raises pydantic's ValidationError)."""
    return _adapter.validate_python(data)


def load_rules(path: Path = DEFAULT_RULES) -> list[Rule]:
    """Load and validate a rules file, or raise ConfigError naming file, line and problem."""
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"Cannot read the rules file {path}: {exc.strerror}.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"Rules file {path} is not valid YAML: {exc}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ConfigError(f"Rules file {path} must hold a mapping with a list 'rules'.")
    nodes = next(value for key, value in root.value if key.value == "rules").value  # type: ignore[union-attr]
    rules: list[Rule] = []
    seen: set[str] = set()
    for node, raw in zip(nodes, data["rules"], strict=True):
        line = node.start_mark.line + 1
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"Rules file {path}, line {line}" + (f" (rule {name!r})" if name else "")
        try:
            rule = parse_rule(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'][1:]) or 'rule'}: {error['msg']}"
                for error in exc.errors())
            raise ConfigError(f"{where}: {problems}.") from None
        if rule.name in seen:
            raise ConfigError(f"{where}: a rule named {rule.name!r} already exists.")
        seen.add(rule.name)
        rules.append(rule)
    return rules
