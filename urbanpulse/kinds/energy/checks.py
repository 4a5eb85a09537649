"""The energy alert checks: power against a learnt hourly baseline, and night baseload.

Both learn from the building's own readings, by local (Asia/Shanghai) day and
hour. Days are weekdays or weekends by the date alone: the platform has no
holiday calendar, so a public holiday on a weekday is learnt among the
workdays, and a weekend day worked in exchange among the weekends. The median
of three days or more absorbs one such day; a baseline of fewer days, or of
days of both kinds (an office's Sunday draws a quarter of its Monday), would
not, so until a building has enough days of the kind it is not judged.
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
        self._past: dict[str, dict[tuple[bool, int], deque[float]]] = {}
        """Sensor → (weekend, hour) → mean power of that hour on its latest days of that kind."""

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
                key = (is_weekend(current[0]), current[1])
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
    """Night power (00:00–05:00 local) above `share` of the weekdays' 09–17 mean.

    The reference is the median over the building's last weekdays, so that one
    weekday holiday (a Sunday's load, learnt as a weekday's) does not lower it.
    """

    def __init__(self, rule: NightBaseloadRule) -> None:
        super().__init__(rule)
        self.share = rule.share
        self.clear = rule.share if rule.clear is None else rule.clear
        self.need = rule.min_days
        self.keep = rule.history_days
        self.reference = "the last weekday's load" if self.keep == 1 else "the weekday load"
        self.rule_watches = rule.watches
        self.min_hours = rule.min_hours
        self._day: dict[str, tuple[int, float, int, frozenset[int]]] = {}
        """Sensor → the weekday being read: its day, the sum of its 09–17 powers, their count,
        the hours they came in."""
        self._loads: dict[str, deque[float]] = {}
        """Sensor → the mean 09–17 power of each of its latest weekdays read."""
        self._last: dict[str, int] = {}
        """Sensor → the time of its latest reading."""

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        power = reading.values.get("total_active_power")
        if power is None or not self.rule_watches(context.attributes):
            return None
        sensor = reading.sensor
        if reading.ts < self._last.get(sensor, reading.ts):
            return None  # come late: last evening's reading does not end tonight's alert
        self._last[sensor] = reading.ts
        day, hour = local_day_hour(reading.ts)
        if DAY_HOURS[0] <= hour < DAY_HOURS[1] and not is_weekend(day):
            opened = self._day.get(sensor)
            if opened is not None and opened[0] == day:
                self._day[sensor] = (day, opened[1] + power, opened[2] + 1,
                                     opened[3] | {hour})
            else:
                if opened is not None:  # the weekday before is over
                    self._learn(sensor, opened)
                self._day[sensor] = (day, power, 1, frozenset((hour,)))
        elif (opened := self._day.pop(sensor, None)) is not None:  # that weekday's is over
            self._learn(sensor, opened)
        if hour >= NIGHT_END:
            return (False, power, 0.0) if active and hour >= CHECK_ENDS else None
        loads = self._loads.get(sensor)
        if loads is None or len(loads) < self.need:
            return None
        load = median(loads)
        return power > (self.clear if active else self.share) * load, power, load

    def _learn(self, sensor: str, day: tuple[int, float, int, frozenset[int]]) -> None:
        """Keep a weekday's 09–17 mean power, if it was read in enough of its hours.

        A day read in a few of them (a meter back from an outage, frozen from its
        second reading on) is not that day's load.
        """
        if len(day[3]) >= self.min_hours:
            loads = self._loads.get(sensor)
            if loads is None:
                loads = self._loads[sensor] = deque(maxlen=self.keep)
            loads.append(day[1] / day[2])

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        if local_day_hour(reading.ts)[1] >= NIGHT_END:
            return f"daytime: the night baseload check ends at {value} kW"
        share = (f"night load {value} kW is {value / detail:.0%} of {self.reference} "
                 f"{detail:.1f} kW (09-17 h)")
        return share if value > self.clear * detail else f"{share}, back within {self.clear:.0%}"


RULES = ((EnergyBaselineRule, EnergyAboveBaseline), (NightBaseloadRule, NightBaseload))
"""The kind's rule types, each with its check."""
