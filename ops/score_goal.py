"""The quality goal of issue 16 (docs/alerts.md, "The quality goal"), checked on a score.

    every rule with truth   precision >= 0.9 and recall >= 0.9
    overall                 false alarms <= 0.1 per sensor-day
    every rule with delays  median delay <= its wait + two reporting intervals
    every injected incident exactly one platform incident (docs/incidents.md)

A rule's wait is its `for`, plus, for a staleness rule, the silence it waits for
(factor × interval): the delay of a silence counts from the outage's start,
and the rule cannot know before. The reporting interval is the median of the
intervals the watched sensors declare in their births. Pure: `urbanpulse
score --goal` prints what `unmet` returns.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ingest.alerts.rules import DistrictStaleRule, Rule, StaleRule
from ops.score import OVERALL, SUBTOTAL, RuleScore
from ops.score_incidents import IncidentScore

MIN_PRECISION: Final = 0.9
MIN_RECALL: Final = 0.9
MAX_FALSE_ALARMS: Final = 0.1
"""Per sensor-day, over every rule."""
INTERVALS_OF_DELAY: Final = 2
"""Reporting intervals a rule may take beyond its wait."""


@dataclass(frozen=True, slots=True)
class Shortfall:
    """One target a score misses: the rule (or `overall`), the measure, its value and bound."""

    rule: str
    measure: str
    value: float
    bound: float

    def __str__(self) -> str:
        relation = ">" if self.measure in ("false alarms per sensor-day", "delay p50 s") else "<"
        return f"{self.rule}: {self.measure} {self.value:.3f} {relation} {self.bound:g}"


@dataclass(frozen=True, slots=True)
class IncidentShortfall:
    """An injected incident that did not become exactly one platform incident."""

    key: str
    district: str
    verdict: str
    incidents: int

    def __str__(self) -> str:
        return (f"incident {self.key} in {self.district}: {self.verdict}, {self.incidents} "
                "platform incidents, not 1")


def incidents_unmet(score: IncidentScore) -> list[IncidentShortfall]:
    """Return the injected incidents of `score` that are not exactly one platform incident."""
    return [IncidentShortfall(one.injected.key, one.injected.district, one.verdict,
                              len(one.incidents)) for one in score.injected
            if one.verdict in ("missed", "split")]


def allowed_delay_s(rule: Rule, interval_s: float) -> float:
    """Return the median delay the goal allows `rule` on sensors reporting every `interval_s`."""
    wait = rule.for_s
    if isinstance(rule, StaleRule | DistrictStaleRule):
        wait += rule.factor * interval_s
    return wait + INTERVALS_OF_DELAY * interval_s


def unmet(rows: Sequence[RuleScore], rules: Sequence[Rule],
          intervals: Mapping[str, float], watched: Mapping[str, Sequence[str]]) -> list[Shortfall]:
    """Return the goal's targets the score `rows` misses, in row order.

    Args:
        rows: The score's rows (`ops.score.score`).
        rules: The rules scored.
        intervals: Each sensor's declared interval, seconds (from its birth).
        watched: The sensors each rule watches, by rule name.
    """
    by_name = {rule.name: rule for rule in rules}
    missed: list[Shortfall] = []
    for row in rows:
        if row.rule == OVERALL:
            rate = row.false_alarms_per_sensor_day
            if rate is not None and rate > MAX_FALSE_ALARMS:
                missed.append(Shortfall(OVERALL, "false alarms per sensor-day", rate,
                                        MAX_FALSE_ALARMS))
            continue
        if row.rule == SUBTOTAL or row.truths == 0:
            continue
        if row.precision is not None and row.precision < MIN_PRECISION:
            missed.append(Shortfall(row.rule, "precision", row.precision, MIN_PRECISION))
        if (row.recall or 0.0) < MIN_RECALL:
            missed.append(Shortfall(row.rule, "recall", row.recall or 0.0, MIN_RECALL))
        rule, delay = by_name.get(row.rule), row.delay_p50_s
        sensors = [intervals[s] for s in watched.get(row.rule, ()) if s in intervals]
        if rule is not None and delay is not None and sensors:
            bound = allowed_delay_s(rule, statistics.median(sensors))
            if delay > bound:
                missed.append(Shortfall(row.rule, "delay p50 s", delay, bound))
    return missed


def report(missed: Sequence[Shortfall | IncidentShortfall], *, incidents: bool = False) -> str:
    """Return the lines `urbanpulse score --goal` prints under the tables.

    `incidents` says whether the incidents were scored (the goal then names them).
    """
    head = (f"-- quality goal: precision and recall >= {MIN_PRECISION:g} for every rule with "
            f"truth, <= {MAX_FALSE_ALARMS:g} false alarms per sensor-day overall, median delay "
            f"<= the rule's wait + {INTERVALS_OF_DELAY} reporting intervals")
    if incidents:
        head += ", each injected incident exactly one platform incident"
    if not missed:
        return f"{head}\nmet"
    return "\n".join([head, *(f"unmet: {shortfall}" for shortfall in missed)])
