"""What each per-reading rule type checks: one `Check` object per rule.

A check holds its rule's settings as plain attributes and, when it compares a
reading with earlier ones, a small memory per sensor. `check` returns None
when the reading says nothing about the rule (the metric is absent, or a rate
needs a second reading), else (active, value, detail). `active` is the rule's
own verdict given whether its alert is active now, which is how thresholds
get their hysteresis; `detail` is the one number the message needs besides
the value and the reading (a rate, a count, a baseline), else 0. `describe`
builds the alert's message from them; the engine calls it only when the alert
changes state, because formatting a sentence for every reading cost more than
the check itself.

Checks are classes rather than functions of the rule because mypyc compiles
them to C structs: reading a setting, or calling the check, is then a pointer
away instead of a lookup in a pydantic model's dict (docs/performance.md).
`Context` carries what the reading alone does not: the sensor's birth (zone,
attributes); `derived` are the fields derived from the reading with the
national standards (`ingest.derive`).
"""

from __future__ import annotations

from abc import abstractmethod
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
from urbanpulse.kinds import KINDS
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading
from urbanpulse.standards import local_hour

Verdict = tuple[bool, float, float] | None
Derived = Mapping[str, FieldValue]
_NEVER_SEEN: tuple[float | None, int] = (None, 0)


@dataclass(frozen=True, slots=True)
class Context:
    """What a check may know of the sensor beyond the reading: its birth."""

    zone: str = ""
    attributes: Mapping[str, object] = field(default_factory=dict)


def _unit(rule: Rule, metric: str) -> str:
    return KINDS[rule.kind].metrics[metric].unit


class Check:
    """The per-reading check of one rule."""

    def __init__(self, rule: Any) -> None:
        self.rule: Rule = rule
        self.name: str = rule.name

    @abstractmethod
    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        """Judge one reading: None, or (active, value, detail)."""

    @abstractmethod
    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        """Return the alert's message for what `check` judged of `reading`."""


class _MetricCheck(Check):
    """A check of one catalog metric of the reading."""

    def __init__(self, rule: ThresholdRule | RateOfChangeRule | StuckRule | RangeRule) -> None:
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

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        value = reading.values.get(self.metric)
        if value is None:
            return None
        limit = self.clear if active else self.limit
        return (value > limit if self.above else value < limit), value, 0.0

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        side = "above" if self.above else "below"
        return f"{self.metric} {value} {self.unit} {side} {self.limit}"


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
        return (f"{self.metric} changing {detail:.3g} {self.unit}/min, "
                f"limit {self.max_per_minute}")


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
        return f"{self.metric} {value} {self.unit} outside {self.min}..{self.max}"


class AqiLevel(Check):
    """HJ 633 category at or above `min_level`; clears at or below `clear_level`."""

    def __init__(self, rule: AqiRule) -> None:
        super().__init__(rule)
        self.min_level = rule.min_level
        self.clear_level = (rule.clear_level if rule.clear_level is not None
                            else max(1, rule.min_level - 2))

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        level, index = derived.get("aqi_level"), derived.get("aqi")
        if not isinstance(level, int) or not isinstance(index, int):
            return None
        verdict = level > self.clear_level if active else level >= self.min_level
        return verdict, float(index), 0.0

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        return (f"AQI {int(value)} (level {derived.get('aqi_level')}), primary pollutant "
                f"{derived.get('primary_pollutant') or 'none'}")


class WaterClassWorse(Check):
    """GB 3838 class `by` or more classes worse than the station's `class_target`."""

    def __init__(self, rule: WaterClassRule) -> None:
        super().__init__(rule)
        self.by = rule.by

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        found, target = derived.get("water_class"), context.attributes.get("class_target")
        if not isinstance(found, int) or not isinstance(target, int):
            return None
        return found - target >= self.by, float(found), float(target)

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        found = int(value)
        return (f"{'worse than V' if found == 6 else f'class {found}'} "
                f"against target class {int(detail)}")


class NoiseOverLimit(Check):
    """LAeq above the GB 3096 limit of the monitor's zone at the reading's local hour."""

    def __init__(self, rule: NoiseLimitRule) -> None:
        super().__init__(rule)
        self.margin_db = rule.margin_db

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        limit, laeq = derived.get("noise_limit_db"), reading.values.get("laeq")
        if not isinstance(limit, float) or laeq is None:
            return None
        return laeq > limit + self.margin_db, laeq, limit

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        return f"LAeq {value} dB(A) over the zone {context.zone} limit of {detail:g}"


class EnergyAboveBaseline(Check):
    """Power above `factor` × the building's learnt mean for this local hour of the day."""

    def __init__(self, rule: EnergyBaselineRule) -> None:
        super().__init__(rule)
        self.factor = rule.factor
        self.alpha = rule.alpha
        self.min_samples = rule.min_samples
        self._hours: dict[str, dict[int, tuple[float, int]]] = {}  # sensor → hour → mean, n

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        power = reading.values.get("total_active_power")
        if power is None:
            return None
        slots = self._hours.get(reading.sensor)
        if slots is None:
            slots = self._hours[reading.sensor] = {}
        hour = local_hour(reading.ts)
        mean, samples = slots.get(hour, (power, 0))
        verdict: Verdict = None
        if samples >= self.min_samples and mean > 0:
            verdict = power > self.factor * mean, power, mean
        slots[hour] = (mean + self.alpha * (power - mean) if samples else power, samples + 1)
        return verdict

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        return (f"{value} kW against a baseline of {detail:.1f} kW at "
                f"{local_hour(reading.ts):02d}:00")


class NightBaseload(Check):
    """Night power (00:00–05:00 local) above `share` of the latest daytime peak."""

    def __init__(self, rule: NightBaseloadRule) -> None:
        super().__init__(rule)
        self.share = rule.share
        self._peaks: dict[str, tuple[int, float]] = {}  # sensor → (day, peak power)

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        power = reading.values.get("total_active_power")
        if power is None:
            return None
        sensor = reading.sensor
        hour = local_hour(reading.ts)
        if 8 <= hour < 20:
            day = reading.ts // 86_400_000
            peak_day, peak = self._peaks.get(sensor, (day, 0.0))
            self._peaks[sensor] = (day, max(power, peak) if peak_day == day else power)
            return (False, power, 0.0) if active else None
        if hour >= 5 or sensor not in self._peaks:
            return None
        peak = self._peaks[sensor][1]
        return power > self.share * peak, power, peak

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        if 8 <= local_hour(reading.ts) < 20:
            return "daytime"
        if not detail:
            return f"night load {value} kW"
        return f"night load {value} kW is {value / detail:.0%} of the day's peak {detail} kW"


CHECKS: dict[str, Callable[[Any], Check]] = {
    "threshold": Threshold,
    "rate_of_change": RateOfChange,
    "stuck": Stuck,
    "range": PlausibleRange,
    "aqi": AqiLevel,
    "water_class": WaterClassWorse,
    "noise_limit": NoiseOverLimit,
    "energy_baseline": EnergyAboveBaseline,
    "night_baseload": NightBaseload,
}
"""The check of each per-reading rule type; `stale` and `district_stale` are swept on a timer."""
