"""What each per-reading rule type checks: pure functions of a reading and a small memory.

A check returns None when the reading says nothing about the rule (the metric
is absent, or a rate needs a second reading), else (active, value, describe).
`active` is the rule's own verdict given whether its alert is active now,
which is how thresholds get their hysteresis. `describe` builds the alert's
message; the engine calls it only when the alert changes state, because
formatting a sentence for every reading cost more than the check itself.
`Context` carries what the reading alone does not: the sensor's birth (zone,
attributes); `derived` are the fields derived from the reading with the
national standards (`ingest.derive`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.alerts.rules import (
    AqiRule,
    EnergyBaselineRule,
    NightBaseloadRule,
    NoiseLimitRule,
    RangeRule,
    RateOfChangeRule,
    Rule,
    StuckRule,
    ThresholdRule,
    WaterClassRule,
)
from urbanpulse.catalog import KINDS
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading
from urbanpulse.standards import local_hour

Check = tuple[bool, float, Callable[[], str]] | None
Memory = dict[tuple[str, str], Any]
_NEVER_SEEN: tuple[float | None, int] = (None, 0)


Derived = Mapping[str, FieldValue]


@dataclass(frozen=True, slots=True)
class Context:
    """What a check may know of the sensor beyond the reading: its birth."""

    zone: str = ""
    attributes: Mapping[str, object] = field(default_factory=dict)


def _unit(rule: Rule, metric: str) -> str:
    return KINDS[rule.kind].metrics[metric].unit


def threshold(rule: ThresholdRule, reading: Reading, active: bool, memory: Memory,
              context: Context, derived: Derived) -> Check:
    """Beyond `above`/`below` to start; back past `clear` (default: the threshold) to stop."""
    value = reading.values.get(rule.metric)
    if value is None:
        return None
    clear = rule.clear if active else None
    if rule.above is not None:
        above = rule.above
        return (value > (above if clear is None else clear), value,
                lambda: f"{rule.metric} {value} {_unit(rule, rule.metric)} above {above}")
    assert rule.below is not None
    below = rule.below
    return (value < (below if clear is None else clear), value,
            lambda: f"{rule.metric} {value} {_unit(rule, rule.metric)} below {below}")


def rate_of_change(rule: RateOfChangeRule, reading: Reading, active: bool,
                   memory: Memory, context: Context, derived: Derived) -> Check:
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
            lambda: f"{rule.metric} changing {rate:.3g} {_unit(rule, rule.metric)}/min, "
                    f"limit {rule.max_per_minute}")


def stuck(rule: StuckRule, reading: Reading, active: bool, memory: Memory,
          context: Context, derived: Derived) -> Check:
    """The same value, within tolerance, for `readings` readings in a row."""
    value = reading.values.get(rule.metric)
    if value is None:
        return None
    key = (rule.name, reading.sensor)
    last, count = memory.get(key, _NEVER_SEEN)
    count = count + 1 if last is not None and abs(value - last) <= rule.tolerance else 1
    memory[key] = (value, count)
    return (count >= rule.readings, value,
            lambda: f"{rule.metric} has read {value} for {count} readings in a row")


def plausible_range(rule: RangeRule, reading: Reading, active: bool, memory: Memory,
                    context: Context, derived: Derived) -> Check:
    """Outside the plausible range the rule gives."""
    value = reading.values.get(rule.metric)
    if value is None:
        return None
    return (not rule.min <= value <= rule.max, value,
            lambda: f"{rule.metric} {value} {_unit(rule, rule.metric)} "
                    f"outside {rule.min}..{rule.max}")


def aqi_level(rule: AqiRule, reading: Reading, active: bool, memory: Memory,
              context: Context, derived: Derived) -> Check:
    """HJ 633 category at or above `min_level`; clears at or below `clear_level`."""
    level, index = derived.get("aqi_level"), derived.get("aqi")
    if not isinstance(level, int) or not isinstance(index, int):
        return None
    if active:
        clear = rule.clear_level if rule.clear_level is not None else max(1, rule.min_level - 2)
        verdict = level > clear
    else:
        verdict = level >= rule.min_level
    return (verdict, float(index), lambda: f"AQI {index} (level {level}), primary pollutant "
                                           f"{derived.get('primary_pollutant') or 'none'}")


def water_class_worse(rule: WaterClassRule, reading: Reading, active: bool, memory: Memory,
                      context: Context, derived: Derived) -> Check:
    """GB 3838 class `by` or more classes worse than the station's `class_target`."""
    found, target = derived.get("water_class"), context.attributes.get("class_target")
    if not isinstance(found, int) or not isinstance(target, int):
        return None
    return (found - target >= rule.by, float(found),
            lambda: f"{'worse than V' if found == 6 else f'class {found}'} "
                    f"against target class {target}")


def noise_over_limit(rule: NoiseLimitRule, reading: Reading, active: bool, memory: Memory,
                     context: Context, derived: Derived) -> Check:
    """LAeq above the GB 3096 limit of the monitor's zone at the reading's local hour."""
    limit, laeq = derived.get("noise_limit_db"), reading.values.get("laeq")
    if not isinstance(limit, float) or laeq is None:
        return None
    return (laeq > limit + rule.margin_db, laeq,
            lambda: f"LAeq {laeq} dB(A) over the zone {context.zone} limit of {limit:g}")


def energy_above_baseline(rule: EnergyBaselineRule, reading: Reading, active: bool,
                          memory: Memory, context: Context, derived: Derived) -> Check:
    """Power above `factor` × the building's learnt mean for this local hour of the day."""
    power = reading.values.get("total_active_power")
    if power is None:
        return None
    key = (rule.name, reading.sensor)
    slots: dict[int, tuple[float, int]] | None = memory.get(key)
    if slots is None:
        slots = memory[key] = {}
    hour = local_hour(reading.ts)
    mean, samples = slots.get(hour, (power, 0))
    check: Check = None
    if samples >= rule.min_samples and mean > 0:
        check = (power > rule.factor * mean, power,
                 lambda: f"{power} kW against a baseline of {mean:.1f} kW at {hour:02d}:00")
    slots[hour] = (mean + rule.alpha * (power - mean) if samples else power, samples + 1)
    return check


def night_baseload(rule: NightBaseloadRule, reading: Reading, active: bool, memory: Memory,
                   context: Context, derived: Derived) -> Check:
    """Night power (00:00–05:00 local) above `share` of the latest daytime peak."""
    power = reading.values.get("total_active_power")
    if power is None:
        return None
    key = (rule.name, reading.sensor)
    hour = local_hour(reading.ts)
    if 8 <= hour < 20:
        day = reading.ts // 86_400_000
        peak_day, peak = memory.get(key, (day, 0.0))
        memory[key] = (day, max(power, peak) if peak_day == day else power)
        return (False, power, _daytime) if active else None
    if hour >= 5 or key not in memory:
        return None
    peak = memory[key][1]
    return (power > rule.share * peak, power,
            lambda: f"night load {power} kW is {power / peak:.0%} of the day's peak {peak} kW"
            if peak else f"night load {power} kW")


def _daytime() -> str:
    return "daytime"


CHECKS: dict[str, Callable[[Any, Reading, bool, Memory, Context, Derived], Check]] = {
    "threshold": threshold,
    "rate_of_change": rate_of_change,
    "stuck": stuck,
    "range": plausible_range,
    "aqi": aqi_level,
    "water_class": water_class_worse,
    "noise_limit": noise_over_limit,
    "energy_baseline": energy_above_baseline,
    "night_baseload": night_baseload,
}
"""Per-reading checks by rule type; `stale` and `district_stale` are swept on a timer."""
