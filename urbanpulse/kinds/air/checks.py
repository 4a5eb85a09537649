"""The air alert check: the HJ 633 category of the AQI, of a reading or of its 1-h means.

Every concentration judged is the calibrated one where the ingester derives
it (`pm25_cal`, `pm10_cal`: a low-cost station's PM corrected against the
reference stations of its district), the reading's own otherwise.
"""

from __future__ import annotations

from typing import Final

from urbanpulse.kinds.air import SPEC
from urbanpulse.kinds.air.rules import AqiRule
from urbanpulse.kinds.alerting import Check, Context, Derived, Verdict
from urbanpulse.messages import Reading
from urbanpulse.standards.air import POLLUTANTS, realtime_aqi

CORRECTED: Final = {"pm25": "pm25_cal", "pm10": "pm10_cal"}
"""The derived field that holds a pollutant's calibrated concentration."""
COVERED: Final = 0.75
"""The share of `mean_over` a sensor's readings must span before their mean is judged:
GB 3095-2012 takes an hourly mean of 45 minutes of sampling."""
_ABSENT: Final = -1.0


class _Span:
    """One sensor's readings within `mean_over` of its newest: times, concentrations (in
    `POLLUTANTS` order, `_ABSENT` where a reading lacked one), and their running sums."""

    __slots__ = ("counts", "head", "newest", "rows", "sums", "times")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.rows: list[list[float]] = []
        self.head = 0
        """The oldest reading (in arrival order) still within the span."""
        self.newest = -(2**62)
        self.sums = [0.0] * len(POLLUTANTS)
        self.counts = [0] * len(POLLUTANTS)

    def add(self, ts: int, row: list[float], span_ms: int) -> None:
        """Take a reading in and drop those `span_ms` or more older than the newest."""
        if ts <= self.newest - span_ms:
            return  # late, and older than the span: nothing of the mean now
        self.times.append(ts)
        self.rows.append(row)
        self._count(row, 1)
        self.newest = max(self.newest, ts)
        while self.times[self.head] <= self.newest - span_ms:
            self._count(self.rows[self.head], -1)
            self.head += 1
        if self.head > 64 and self.head * 2 > len(self.times):
            del self.times[:self.head]
            del self.rows[:self.head]
            self.head = 0

    def _count(self, row: list[float], sign: int) -> None:
        for index, value in enumerate(row):
            if value != _ABSENT:
                self.sums[index] += sign * value
                self.counts[index] += sign

    def covers(self, ms: float) -> bool:
        """Whether the readings within the span reach back `ms` from the newest."""
        return self.newest - self.times[self.head] >= ms

    def means(self) -> dict[str, float]:
        """The mean concentration of each pollutant read within the span."""
        return {pollutant: self.sums[index] / self.counts[index]
                for index, pollutant in enumerate(POLLUTANTS) if self.counts[index] > 0}


class AqiLevel(Check):
    """HJ 633 category at or above `min_level`; clears at or below `clear_level`.

    Of the reading's AQI (its `aqi_level` derived field), or of one pollutant's
    IAQI (`pollutant`), or of the mean concentrations over `mean_over` (held per
    sensor, the readings of that span).
    """

    def __init__(self, rule: AqiRule) -> None:
        super().__init__(rule)
        self.min_level = rule.min_level
        self.clear_level = (rule.clear_level if rule.clear_level is not None
                            else max(1, rule.min_level - 2))
        self.pollutant = rule.pollutant
        self.span_ms = int(rule.mean_over * 1000) if rule.mean_over is not None else 0
        self._spans: dict[str, _Span] = {}

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        if not self.span_ms and self.pollutant is None:
            level, index = derived.get("aqi_level"), derived.get("aqi")
            if not isinstance(level, int) or not isinstance(index, int):
                return None
            return self._verdict(level, active), float(index), float(level)
        judged = self._judged(reading, derived)
        if judged is None:
            return None
        try:
            index, level, _ = realtime_aqi(judged)
        except ValueError:  # nothing HJ 633 defines
            return None
        return self._verdict(level, active), float(index), float(level)

    def _verdict(self, level: int, active: bool) -> bool:
        return level > self.clear_level if active else level >= self.min_level

    def _judged(self, reading: Reading, derived: Derived) -> dict[str, float] | None:
        """The concentrations judged: the reading's, or the means of its span (None while
        the span is not covered yet), of `pollutant` alone when the rule names one."""
        values = reading.values
        if not self.span_ms:
            value = self._concentration(self.pollutant or "", values, derived)
            return None if value == _ABSENT else {self.pollutant or "": value}
        span = self._spans.get(reading.sensor)
        if span is None:
            span = self._spans[reading.sensor] = _Span()
        span.add(reading.ts, [self._concentration(pollutant, values, derived)
                              for pollutant in POLLUTANTS], self.span_ms)
        if not span.covers(COVERED * self.span_ms):
            return None
        means = span.means()
        if self.pollutant is not None:
            mean = means.get(self.pollutant)
            return None if mean is None else {self.pollutant: mean}
        return means or None

    @staticmethod
    def _concentration(pollutant: str, values: dict[str, float], derived: Derived) -> float:
        corrected = derived.get(CORRECTED.get(pollutant, ""))
        if isinstance(corrected, float):
            return corrected
        return values.get(pollutant, _ABSENT)

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        level = int(detail)
        back = (f" back at or below level {self.clear_level}"
                if level <= self.clear_level < self.min_level else "")
        if not self.span_ms and self.pollutant is None:
            return (f"AQI {int(value)} (level {level}){back}, primary pollutant "
                    f"{derived.get('primary_pollutant') or 'none'}")
        over = f"{self.span_ms / 60_000:g}-min mean " if self.span_ms else ""
        if self.pollutant is not None:
            span = self._spans.get(reading.sensor)
            mean = span.means().get(self.pollutant) if span is not None else None
            concentration = (f"{mean:.1f} {SPEC.metrics[self.pollutant].unit}"
                             if mean is not None else "")
            return (f"{self.pollutant} {over}{concentration}: IAQI {int(value)} "
                    f"(level {level}){back}")
        span = self._spans.get(reading.sensor)
        primary = realtime_aqi(span.means())[2] if span is not None and span.means() else ()
        return (f"AQI of the {over}concentrations {int(value)} (level {level}){back}, primary "
                f"pollutant {','.join(primary) or 'none'}")


RULES = ((AqiRule, AqiLevel),)
"""The kind's rule types, each with its check."""
