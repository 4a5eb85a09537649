"""What each per-reading rule type checks: pure functions of a reading and a small memory.

A check returns None when the reading says nothing about the rule (the metric
is absent, or a rate needs a second reading), else (active, value, message).
`active` is the rule's own verdict given whether its alert is active now,
which is how thresholds get their hysteresis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingest.alerts.rules import RangeRule, RateOfChangeRule, Rule, StuckRule, ThresholdRule
from urbanpulse.catalog import KINDS
from urbanpulse.messages import Reading

Check = tuple[bool, float, str] | None
Memory = dict[tuple[str, str], Any]


def _unit(rule: Rule, metric: str) -> str:
    return KINDS[rule.kind].metrics[metric].unit


def threshold(rule: ThresholdRule, reading: Reading, active: bool, memory: Memory) -> Check:
    """Beyond `above`/`below` to start; back past `clear` (default: the threshold) to stop."""
    value = reading.values.get(rule.metric)
    if value is None:
        return None
    unit = _unit(rule, rule.metric)
    if rule.above is not None:
        limit = rule.clear if active and rule.clear is not None else rule.above
        return value > limit, value, f"{rule.metric} {value} {unit} above {rule.above}"
    assert rule.below is not None
    limit = rule.clear if active and rule.clear is not None else rule.below
    return value < limit, value, f"{rule.metric} {value} {unit} below {rule.below}"


def rate_of_change(rule: RateOfChangeRule, reading: Reading, active: bool,
                   memory: Memory) -> Check:
    """Change per minute since the sensor's previous reading of the metric."""
    value = reading.values.get(rule.metric)
    if value is None:
        return None
    key = (rule.name, reading.sensor)
    previous = memory.get(key)
    memory[key] = (reading.ts, value)
    if previous is None or reading.ts <= previous[0]:
        return None
    rate = abs(value - previous[1]) / ((reading.ts - previous[0]) / 60_000)
    return (rate > rule.max_per_minute, round(rate, 3),
            f"{rule.metric} changing {rate:.3g} {_unit(rule, rule.metric)}/min, "
            f"limit {rule.max_per_minute}")


def stuck(rule: StuckRule, reading: Reading, active: bool, memory: Memory) -> Check:
    """The same value, within tolerance, for `readings` readings in a row."""
    value = reading.values.get(rule.metric)
    if value is None:
        return None
    key = (rule.name, reading.sensor)
    last, count = memory.get(key, (None, 0))
    count = count + 1 if last is not None and abs(value - last) <= rule.tolerance else 1
    memory[key] = (value, count)
    return (count >= rule.readings, value,
            f"{rule.metric} has read {value} for {count} readings in a row")


def plausible_range(rule: RangeRule, reading: Reading, active: bool, memory: Memory) -> Check:
    """Outside the plausible range the rule gives."""
    value = reading.values.get(rule.metric)
    if value is None:
        return None
    return (not rule.min <= value <= rule.max, value,
            f"{rule.metric} {value} {_unit(rule, rule.metric)} outside {rule.min}..{rule.max}")


CHECKS: dict[str, Callable[[Any, Reading, bool, Memory], Check]] = {
    "threshold": threshold,
    "rate_of_change": rate_of_change,
    "stuck": stuck,
    "range": plausible_range,
}
"""Per-reading checks by rule type; `stale` and `district_stale` are swept on a timer."""
