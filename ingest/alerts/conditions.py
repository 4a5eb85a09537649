"""What each generic per-reading rule type checks: one `Check` object per rule.

The generic types (`threshold`, `rate_of_change`, `stuck`, `range`, `step`)
judge one metric of any kind; a kind's own types are checked by its `checks.py`. Both
extend `urbanpulse.kinds.alerting.Check`, which explains what a check returns
and why checks are compiled classes. `checks()` gives the engine the check of
every per-reading rule type; `stale` and `district_stale` are swept on a
timer instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from statistics import median
from typing import Any

from ingest.alerts.rules import (
    RangeRule,
    RateOfChangeRule,
    Rule,
    StepRule,
    StuckRule,
    ThresholdRule,
    kind_rule_types,
    type_name,
)
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.alerting import Check, Context, Derived, Verdict
from urbanpulse.messages import Reading

__all__ = ["GENERIC_CHECKS", "Check", "Context", "Derived", "Verdict", "checks"]

_NEVER_SEEN: tuple[float | None, int] = (None, 0)


def _unit(rule: Rule, metric: str) -> str:
    kind = KINDS[rule.kind]
    if metric in kind.metrics:
        return kind.metrics[metric].unit
    return kind.derived[metric].unit


class _MetricCheck(Check):
    """A check of one catalog metric of the reading."""

    def __init__(self, rule: ThresholdRule | RateOfChangeRule | StuckRule | RangeRule
                 | StepRule) -> None:
        super().__init__(rule)
        self.metric = rule.metric
        self.unit = _unit(rule, rule.metric)


class Threshold(_MetricCheck):
    """Beyond `above`/`below` to start; back past `clear` (default: the threshold) to stop."""

    def __init__(self, rule: ThresholdRule) -> None:
        super().__init__(rule)
        self.above = rule.above is not None
        limit = rule.above if rule.above is not None else rule.below
        assert limit is not None  # the rule's validator requires exactly one
        self.limit: float = limit
        self.clear: float = rule.clear if rule.clear is not None else limit
        self.of_derived = rule.metric not in KINDS[rule.kind].metrics
        """The rule judges a derived field (`pm25_cal`), not a metric the reading carries."""

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        if self.of_derived:
            found = derived.get(self.metric)
            if not isinstance(found, (float, int)) or isinstance(found, bool):
                return None
            value = float(found)
        else:
            metric = reading.values.get(self.metric)
            if metric is None:
                return None
            value = metric
        limit = self.clear if active else self.limit
        return self._beyond(value, limit), value, limit

    def _beyond(self, value: float, limit: float) -> bool:
        return value > limit if self.above else value < limit

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        # `detail` is the level the value was judged against: the alert level while
        # none is active, the clear level while one is.
        side, back = ("above", "below") if self.above else ("below", "above")
        if self._beyond(value, self.limit):
            return f"{self.metric} {value} {self.unit} {side} {self.limit}"
        if self._beyond(value, detail):
            return (f"{self.metric} {value} {self.unit} still {side} the clear level "
                    f"{self.clear} (alert {side} {self.limit})")
        return (f"{self.metric} {value} {self.unit} back at or {back} {self.clear} "
                f"(alert {side} {self.limit})")


class RateOfChange(_MetricCheck):
    """Change per minute since the sensor's previous reading of the metric."""

    def __init__(self, rule: RateOfChangeRule) -> None:
        super().__init__(rule)
        self.max_per_minute = rule.max_per_minute
        self._previous: dict[str, tuple[int, float]] = {}  # sensor → (ts, value)

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        value = reading.values.get(self.metric)
        if value is None:
            return None
        previous = self._previous.get(reading.sensor)
        self._previous[reading.sensor] = (reading.ts, value)
        if previous is None or reading.ts <= previous[0]:
            return None
        rate = abs(value - previous[1]) / ((reading.ts - previous[0]) / 60_000)
        return rate > self.max_per_minute, round(rate, 3), rate

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        within = "back within the " if detail <= self.max_per_minute else ""
        return (f"{self.metric} changing {detail:.3g} {self.unit}/min, "
                f"{within}limit {self.max_per_minute}")


class Stuck(_MetricCheck):
    """The same value, within tolerance, for `readings` readings in a row."""

    def __init__(self, rule: StuckRule) -> None:
        super().__init__(rule)
        self.readings = rule.readings
        self.tolerance = rule.tolerance
        self._runs: dict[str, tuple[float | None, int]] = {}  # sensor → (value, run length)

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        value = reading.values.get(self.metric)
        if value is None:
            return None
        last, count = self._runs.get(reading.sensor, _NEVER_SEEN)
        count = count + 1 if last is not None and abs(value - last) <= self.tolerance else 1
        self._runs[reading.sensor] = (value, count)
        return count >= self.readings, value, float(count)

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        if detail < self.readings:
            return f"{self.metric} moving again: {value} {self.unit}"
        return f"{self.metric} has read {value} for {int(detail)} readings in a row"


class PlausibleRange(_MetricCheck):
    """Outside the plausible range the rule gives."""

    def __init__(self, rule: RangeRule) -> None:
        super().__init__(rule)
        self.min = rule.min
        self.max = rule.max

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        value = reading.values.get(self.metric)
        if value is None:
            return None
        return not self.min <= value <= self.max, value, 0.0

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        where = "back inside" if self.min <= value <= self.max else "outside"
        return f"{self.metric} {value} {self.unit} {where} {self.min}..{self.max}"


class Step(_MetricCheck):
    """The metric against the median of the sensor's readings over the previous window."""

    def __init__(self, rule: StepRule) -> None:
        super().__init__(rule)
        self.by = rule.by
        self.rise = rule.direction != "fall"
        self.fall = rule.direction != "rise"
        self.window_ms = int(rule.window * 1000)
        self._recent: dict[str, deque[tuple[int, float]]] = {}  # sensor → (ts, value)

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        value = reading.values.get(self.metric)
        if value is None:
            return None
        recent = self._recent.get(reading.sensor)
        if recent is None:
            recent = self._recent[reading.sensor] = deque()
        since = reading.ts - self.window_ms
        while recent and recent[0][0] < since:
            recent.popleft()
        before = [old for ts, old in recent if ts < reading.ts]
        recent.append((reading.ts, value))
        if not before:
            return None
        moved = value - median(before)
        return (self.rise and moved > self.by) or (self.fall and -moved > self.by), value, moved

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        way = "above" if detail > 0 else "below"
        window = f"{self.window_ms / 60_000:g} min"
        beyond = (self.rise and detail > self.by) or (self.fall and -detail > self.by)
        return (f"{self.metric} {value} {self.unit}, {abs(detail):.3g} {way} its median of the "
                f"previous {window}{'' if beyond else ': back within'} (limit {self.by:g})")


GENERIC_CHECKS: dict[str, Callable[[Any], Check]] = {
    "threshold": Threshold,
    "rate_of_change": RateOfChange,
    "stuck": Stuck,
    "range": PlausibleRange,
    "step": Step,
}
"""The check of each generic per-reading rule type."""


def checks() -> dict[str, Callable[[Any], Check]]:
    """Return the check of every per-reading rule type: the generic ones, then each kind's."""
    found = dict(GENERIC_CHECKS)
    for kind in KINDS.values():
        for model, check in kind_rule_types(kind):
            found[type_name(model)] = check
    return found
