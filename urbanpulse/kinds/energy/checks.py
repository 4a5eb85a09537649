"""The energy alert checks: power against a learnt hourly baseline, and night baseload.

Both learn from the building's own readings, by local (Asia/Shanghai) day and
hour. Days are weekdays or weekends by the date alone: the platform has no
holiday calendar, so a public holiday on a weekday is judged against the
workdays (it draws less: no alarm) and a weekend day worked in exchange against
the weekends (it draws more; the median of several days absorbs one such day).
"""

from __future__ import annotations

from collections import deque
from statistics import median

from urbanpulse.kinds.alerting import Check, Context, Derived, Verdict
from urbanpulse.kinds.energy.rules import EnergyBaselineRule, NightBaseloadRule
from urbanpulse.messages import Reading
from urbanpulse.standards.noise import SHANGHAI_UTC_OFFSET_H

_MS_PER_HOUR = 3_600_000
_HOURS_PER_DAY = 24
_EPOCH_WEEKDAY = 3
"""1970-01-01 was a Thursday (Monday is 0)."""


def local_day_hour(epoch_ms: int) -> tuple[int, int]:
    """Return the Asia/Shanghai day (days since 1970-01-01) and hour of an epoch-ms time."""
    hours = epoch_ms // _MS_PER_HOUR + SHANGHAI_UTC_OFFSET_H
    return hours // _HOURS_PER_DAY, hours % _HOURS_PER_DAY


def is_weekend(day: int) -> bool:
    """Whether a local day (days since 1970-01-01) is a Saturday or a Sunday."""
    return (day + _EPOCH_WEEKDAY) % 7 >= 5


class EnergyAboveBaseline(Check):
    """Power above `factor` × the median of the building's same hour on its recent days."""

    def __init__(self, rule: EnergyBaselineRule) -> None:
        super().__init__(rule)
        self.factor = rule.factor
        self.keep = rule.history_days
        self.need = rule.min_days
        self._open: dict[str, tuple[int, int, float, int]] = {}
        """Sensor → the local day and hour being read, the sum of its powers and their count."""
        self._past: dict[str, dict[tuple[bool | None, int], deque[float]]] = {}
        """Sensor → (weekend, hour) → mean power of that hour on its latest days of that kind;
        (None, hour) on its latest days of any kind."""

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        power = reading.values.get("total_active_power")
        if power is None:
            return None
        sensor = reading.sensor
        day, hour = local_day_hour(reading.ts)
        past = self._past.get(sensor)
        if past is None:
            past = self._past[sensor] = {}
        current = self._open.get(sensor)
        if current is None or (day, hour) > current[:2]:
            if current is not None:  # the hour before is over: it joins the history
                for key in ((is_weekend(current[0]), current[1]), (None, current[1])):
                    means = past.get(key)
                    if means is None:
                        means = past[key] = deque(maxlen=self.keep)
                    means.append(current[2] / current[3])
            self._open[sensor] = (day, hour, power, 1)
        elif (day, hour) == current[:2]:
            self._open[sensor] = (day, hour, current[2] + power, current[3] + 1)
        # (a reading of an hour already over, come late, is judged but not learnt)
        means = past.get((is_weekend(day), hour))
        if means is None or len(means) < self.need:  # too few days of its kind yet
            means = past.get((None, hour))
            if means is None or len(means) < self.need:
                return None
        baseline = median(means)
        return power > self.factor * baseline, power, baseline

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        hour = local_day_hour(reading.ts)[1]
        if value > self.factor * detail:
            return (f"{value} kW against a baseline of {detail:.1f} kW at {hour:02d}:00 "
                    f"(alert above {self.factor:g}×)")
        return (f"{value} kW back within {self.factor:g}× the baseline of {detail:.1f} kW at "
                f"{hour:02d}:00")


DAY_HOURS = (9, 17)
"""The hours whose mean power is a weekday's load (domain facts §4.4)."""
NIGHT_END = 5
CHECK_ENDS = 8
"""An alert still open at 08:00 resolves: the night is over."""


class NightBaseload(Check):
    """Night power (00:00–05:00 local) above `share` of the latest weekday's 09–17 mean."""

    def __init__(self, rule: NightBaseloadRule) -> None:
        super().__init__(rule)
        self.share = rule.share
        self.rule_watches = rule.watches
        self._day: dict[str, tuple[int, float, int]] = {}
        """Sensor → the weekday being read: its day, the sum of its 09–17 powers, their count."""
        self._load: dict[str, float] = {}
        """Sensor → the mean 09–17 power of its latest weekday read."""

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        power = reading.values.get("total_active_power")
        if power is None or not self.rule_watches(context.attributes):
            return None
        sensor = reading.sensor
        day, hour = local_day_hour(reading.ts)
        if DAY_HOURS[0] <= hour < DAY_HOURS[1] and not is_weekend(day):
            seen, total, count = self._day.get(sensor, (day, 0.0, 0))
            self._day[sensor] = (day, total + power, count + 1) if seen == day else (
                day, power, 1)
        elif (opened := self._day.pop(sensor, None)) is not None:  # that weekday's is over
            self._load[sensor] = opened[1] / opened[2]
        if hour >= NIGHT_END:
            return (False, power, 0.0) if active and hour >= CHECK_ENDS else None
        load = self._load.get(sensor)
        if load is None:
            return None
        return power > self.share * load, power, load

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        if local_day_hour(reading.ts)[1] >= NIGHT_END:
            return f"daytime: the night baseload check ends at {value} kW"
        share = (f"night load {value} kW is {value / detail:.0%} of the last weekday's load "
                 f"{detail:.1f} kW (09-17 h)")
        return share if value > self.share * detail else f"{share}, back within {self.share:.0%}"


RULES = ((EnergyBaselineRule, EnergyAboveBaseline), (NightBaseloadRule, NightBaseload))
"""The kind's rule types, each with its check."""
