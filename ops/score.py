"""Score alert rules against the ground truth of a simulated run: pure, no I/O.

The edges of `urbanpulse score` (reading a run, its alerts, InfluxDB, a replay)
are `ops.score_run`.

A rule is scored on the alert episodes that reached `firing` (an alert that
resolved while still pending never fired) and on the `Truth` events the
simulator announced:

- An episode *matches* a truth event when their windows overlap, the truth
  widened by `tolerance_ms` on both sides. The episode's window runs from its
  `since` (when the condition began) to its resolve time, or is the firing
  instant when it never resolved in the data. The truth must be on the same
  sensor, or, for a district-level alert (sensor `district-{district}`), on any
  sensor of the alert's kind in that district. When the rule declares
  `detects`, only truth events of those types count.
- precision = matched episodes / episodes.
- recall = truth events of the rule's kind and `detects` types matched by at
  least one of the rule's episodes / those truth events (None without `detects`).
- false alarms per sensor-day = unmatched episodes / (sensors of the rule's
  kind × days of the run).
- delay = firing ts − truth start of the first episode that matched, clipped at
  0 (an alert already firing when the truth began detected it at once); median
  and p90 by linear interpolation, in seconds.

The overall row pools every episode; its recall counts a truth event once, as
detected when any rule detected it, with the shortest of their delays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from urbanpulse.messages import Alert, Truth

OVERALL = "overall"
DISTRICT_PREFIX = "district-"


@dataclass(frozen=True, slots=True)
class Target:
    """What a rule watches: its sensor kind and the truth types it is meant to catch."""

    rule: str
    kind: str
    detects: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Episode:
    """One firing alert: `since` the condition began, `fired` at, `resolved` (None: not seen)."""

    rule: str
    sensor: str
    kind: str
    district: str
    since: int
    fired: int
    resolved: int | None = None

    @property
    def is_district(self) -> bool:
        """True for a district-level alert (sensor `district-{district}`)."""
        return self.sensor == f"{DISTRICT_PREFIX}{self.district}"


@dataclass(frozen=True, slots=True)
class RuleScore:
    """The score of one rule, or of all of them pooled (`rule` = "overall")."""

    rule: str
    alerts: int
    true_alerts: int
    truths: int
    detected: int
    sensor_days: float
    delays_s: tuple[float, ...] = field(default=(), repr=False)

    @property
    def false_alerts(self) -> int:
        """Episodes that matched no truth event."""
        return self.alerts - self.true_alerts

    @property
    def precision(self) -> float | None:
        """Share of the episodes that matched a truth event (None without episodes)."""
        return self.true_alerts / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        """Share of the catchable truth events that were detected (None without any)."""
        return self.detected / self.truths if self.truths else None

    @property
    def false_alarms_per_sensor_day(self) -> float | None:
        """Unmatched episodes per sensor-day of the rule's kind (None without exposure)."""
        return self.false_alerts / self.sensor_days if self.sensor_days > 0 else None

    @property
    def delay_p50_s(self) -> float | None:
        """Median detection delay in seconds."""
        return quantile(self.delays_s, 0.5)

    @property
    def delay_p90_s(self) -> float | None:
        """90th percentile of the detection delay in seconds."""
        return quantile(self.delays_s, 0.9)

    def as_dict(self) -> dict[str, object]:
        """Return the score as plain JSON-ready values."""
        return {"rule": self.rule, "alerts": self.alerts, "true_alerts": self.true_alerts,
                "false_alerts": self.false_alerts, "precision": self.precision,
                "truths": self.truths, "detected": self.detected, "recall": self.recall,
                "sensor_days": self.sensor_days,
                "false_alarms_per_sensor_day": self.false_alarms_per_sensor_day,
                "delay_p50_s": self.delay_p50_s, "delay_p90_s": self.delay_p90_s}


def quantile(values: Sequence[float], q: float) -> float | None:
    """Return the q-quantile of `values` by linear interpolation (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def episodes(alerts: Iterable[Alert]) -> list[Episode]:
    """Fold alert state changes into the episodes that fired, in firing order.

    An episode is keyed by (rule, sensor, since); a repeated `firing` state (a
    restarted ingester republishing it) counts once, and `resolved` closes it.
    """
    fired: dict[tuple[str, str, int], Alert] = {}
    resolved: dict[tuple[str, str, int], int] = {}
    for alert in alerts:
        key = (alert.rule, alert.sensor, alert.since)
        if alert.state == "firing":
            if key not in fired or alert.ts < fired[key].ts:
                fired[key] = alert
        elif alert.state == "resolved":
            resolved[key] = alert.ts
    found = [Episode(a.rule, a.sensor, a.kind, a.district, a.since, a.ts, resolved.get(key))
             for key, a in fired.items()]
    return sorted(found, key=lambda e: (e.fired, e.rule, e.sensor))


def _overlaps(episode: Episode, truth: Truth, tolerance_ms: int) -> bool:
    end = episode.resolved if episode.resolved is not None else episode.fired
    truth_end = math.inf if truth.end is None else truth.end + tolerance_ms
    return episode.since <= truth_end and end >= truth.start - tolerance_ms


def _in_scope(truth: Truth, target: Target) -> bool:
    return truth.kind == target.kind and (target.detects is None or truth.type in target.detects)


def score(truths: Sequence[Truth], alerts: Sequence[Episode], targets: Sequence[Target],
          sensor_days: Mapping[str, float], tolerance_ms: int) -> list[RuleScore]:
    """Score each target rule (and any other rule seen in `alerts`), then all pooled.

    `sensor_days` gives the exposure per sensor kind. Rows come in the order of
    `targets`, then unknown rules by name, then the overall row.
    """
    by_rule = {target.rule: target for target in targets}
    for episode in alerts:
        by_rule.setdefault(episode.rule, Target(episode.rule, episode.kind))
    on_sensor: dict[str, list[int]] = {}
    in_district: dict[tuple[str, str], list[int]] = {}
    for index, truth in enumerate(truths):
        on_sensor.setdefault(truth.sensor, []).append(index)
        in_district.setdefault((truth.kind, truth.district), []).append(index)
    rows: list[RuleScore] = []
    first: dict[int, float] = {}  # truth index → shortest delay over every rule
    pooled_true = 0
    for name in [*(t.rule for t in targets), *sorted(set(by_rule) - {t.rule for t in targets})]:
        target = by_rule[name]
        mine = [e for e in alerts if e.rule == name]
        true_alerts = 0
        delays: dict[int, float] = {}
        for episode in mine:
            candidates = (in_district.get((episode.kind, episode.district), [])
                          if episode.is_district else on_sensor.get(episode.sensor, []))
            hits = [i for i in candidates if _in_scope(truths[i], target)
                    and _overlaps(episode, truths[i], tolerance_ms)]
            true_alerts += bool(hits)
            for i in hits:
                delay = max(0.0, (episode.fired - truths[i].start) / 1000)
                delays[i] = min(delay, delays.get(i, math.inf))
        for i, delay in delays.items():
            first[i] = min(delay, first.get(i, math.inf))
        pooled_true += true_alerts
        catchable = ([i for i, truth in enumerate(truths) if _in_scope(truth, target)]
                     if target.detects is not None else [])
        rows.append(RuleScore(name, len(mine), true_alerts, len(catchable),
                              sum(i in delays for i in catchable),
                              sensor_days.get(target.kind, 0.0),
                              tuple(delays[i] for i in catchable if i in delays)))
    catchable_any = {i for i, truth in enumerate(truths)
                     if any(t.detects is not None and _in_scope(truth, t)
                            for t in by_rule.values())}
    kinds = {t.kind for t in by_rule.values()}
    rows.append(RuleScore(OVERALL, len(alerts), pooled_true, len(catchable_any),
                          sum(i in first for i in catchable_any),
                          sum(days for kind, days in sensor_days.items() if kind in kinds),
                          tuple(first[i] for i in sorted(catchable_any) if i in first)))
    return rows


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(rows: Sequence[RuleScore]) -> str:
    """Return the scores as a fixed-width text table, one line per rule."""
    header = ("rule", "alerts", "true", "precision", "truths", "found", "recall",
              "FA/sensor-day", "delay p50 s", "delay p90 s")
    lines = [header]
    for row in rows:
        lines.append((row.rule, str(row.alerts), str(row.true_alerts),
                      _cell(row.precision, 3), str(row.truths), str(row.detected),
                      _cell(row.recall, 3), _cell(row.false_alarms_per_sensor_day, 4),
                      _cell(row.delay_p50_s, 0), _cell(row.delay_p90_s, 0)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                  for i, cell in enumerate(line)).rstrip()
        for line in lines)
