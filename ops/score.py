"""Score alert rules against the ground truth of a simulated run: pure, no I/O.

The edges of `urbanpulse score` (reading a run, its alerts, InfluxDB, a replay)
are `ops.score_run`.

A rule is scored on the alert episodes that reached `firing` (an alert that
resolved while still pending never fired) and on one of two kinds of truth,
by its `Basis`:

- device-health and incident rules on the `Truth` events the simulator
  announced (injected device faults and scenario incidents);
- condition rules (a level of the city's real state: PM2.5, a full lot, a
  ponded road) on the rule's own episodes on the run's clean signal (the
  readings without sensor error or device faults): the episodes the same
  engine raised from the clean readings. Without a clean signal (a run file
  written before it was recorded) they fall back to the injected truth.

Either truth is a window on a sensor:

- An episode *matches* a truth window when the two overlap, the truth's
  widened by `tolerance_ms` on both sides (an open one lasts for ever). The
  episode's window runs from its `since` (when the condition began) to its
  resolve time; one still active at the end of the data lasts until then (the
  firing instant when the end is not known).
  The truth must be on the same sensor, or, for a district-level alert (sensor
  `district-{district}`), on any sensor of the alert's kind in that district.
  An injected truth counts when its type is in the rule's `detects` (any type
  without it); a clean episode when it is the same rule's.
- precision = matched episodes / episodes.
- recall = truth windows in the rule's scope matched by at least one of its
  episodes / those windows (None for an injected-truth rule without `detects`).
  A clean episode is one that fired, so it held at least the rule's `for`.
- false alarms per sensor-day = unmatched episodes / (sensors of the rule's
  kind × days of the run).
- delay = firing ts − truth start of the first episode that matched, clipped at
  0 (an alert already firing when the truth began detected it at once); median
  and p90 by linear interpolation, in seconds. A clean episode starts at its
  `since`, when the real condition began.

Each basis has a subtotal row and the overall row pools every episode; their
recall counts a truth window once, as detected when any of their rules
detected it, with the shortest of their delays.

With the `Evidence` of what the platform received (a replay of the run's
readings), recall counts only the truths a rule could catch by its own
definition; precision is unchanged:

- a device-health rule's truth counts when the rule's condition showed in the
  readings the platform received during it: one of the rule's episodes on that
  sensor (or its district), pending ones included, overlaps it. An outage
  shorter than a stale rule's factor × interval is not a stale condition, and a
  drift that has not yet carried a reading out of a plausible range is not an
  implausible reading. Its delay runs from when it showed: the truth's start
  for a silence (a sweep rule), the first reading that met the condition for a
  rule judged per reading;
- an incident rule's truth counts when the rule raised an alert over it on the
  clean signal, that is when the incident really did to the sensor what the
  rule looks for (HVAC left on in a hospital that cools through the night
  anyway adds less than a baseline rule's factor), and the platform received
  usable readings over that alert's span, as for a condition below;
- a condition rule's clean episode counts when the platform received readings
  of the sensor spanning at least the rule's `for` within it, readings that
  did not fail quality control: a real condition while the sensor was silent
  (offline, its readings refused) or frozen (a QC rule's alert open) is the
  device-health rule's to report, not a miss of the condition rule.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from urbanpulse.messages import Alert, Truth

OVERALL = "overall"
SUBTOTAL = "subtotal"
DISTRICT_PREFIX = "district-"


class Basis(StrEnum):
    """What a rule's alerts are scored against, which says what the rule is for."""

    DEVICE = "device-health"
    """Injected device faults: the rule watches the instrument (silence, flat line, range)."""
    INCIDENT = "incident"
    """Injected scenario incidents: the rule infers a cause (a burst, a leak, a failed lamp)."""
    CONDITION = "condition"
    """The rule's episodes on the clean signal: the rule reports a level of the real state."""


BASES = (Basis.DEVICE, Basis.INCIDENT, Basis.CONDITION)
"""The order of the table's sections."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a rule watches: its sensor kind, the truth types it is meant to catch, its basis."""

    rule: str
    kind: str
    detects: frozenset[str] | None = None
    basis: Basis = Basis.INCIDENT
    sensors: frozenset[str] | None = None
    """The sensors the rule watches, when its `match` picks some of its kind (None: all)."""
    for_s: float = 0.0
    """The rule's `for`: how long a condition must hold before it can be alerted."""
    swept: bool = False
    """Whether the rule is judged by a sweep for silence (`stale`, `district_stale`)."""


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
    """The score of one rule, a basis's subtotal (`rule` = "subtotal"), or the overall row.

    For a condition rule scored on the clean signal, `truths` and `detected` count
    the rule's clean episodes.
    """

    rule: str
    alerts: int
    true_alerts: int
    truths: int
    detected: int
    sensor_days: float
    delays_s: tuple[float, ...] = field(default=(), repr=False)
    basis: Basis | None = None
    """The rule's basis (None on the overall row)."""
    matched: frozenset[tuple[str, int]] = field(default=frozenset(), repr=False, compare=False)
    """The sensor and `since` of each of the rule's episodes that matched a truth: the
    per-alert verdicts, for what groups alerts (`ops.score_incidents`). Empty on the
    subtotal and overall rows."""

    @property
    def false_alerts(self) -> int:
        """Episodes that matched no truth."""
        return self.alerts - self.true_alerts

    @property
    def precision(self) -> float | None:
        """Share of the episodes that matched a truth (None without episodes)."""
        return self.true_alerts / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        """Share of the catchable truths that were detected (None without any)."""
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
        return {"rule": self.rule, "class": None if self.basis is None else self.basis.value,
                "alerts": self.alerts, "true_alerts": self.true_alerts,
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


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the platform received of a run: which truths a rule could have caught.

    `opened` are the episodes the rules opened on the received readings,
    those that never fired included (`opened_episodes`); `received` the device
    times (epoch ms) of each sensor's readings the platform accepted and did
    not fail quality control (no QC rule's alert open on the sensor), sorted;
    `realised` the episodes the incident rules raised on the clean signal, what
    an incident really did to the sensors as each rule defines it.
    """

    opened: Sequence[Episode]
    received: Mapping[str, Sequence[int]]
    realised: Sequence[Episode] | None = None
    """The incident rules' episodes on the clean signal (None: the run has none)."""

    def showed(self, basis: Basis) -> dict[tuple[str, str], list[Episode]]:
        """Return by (rule, sensor) what shows a truth to a rule of `basis`: the episodes
        opened on the received readings (device health), or realised (incident)."""
        found: dict[tuple[str, str], list[Episode]] = {}
        for episode in (self.realised or ()) if basis is Basis.INCIDENT else self.opened:
            found.setdefault((episode.rule, episode.sensor), []).append(episode)
        return found

    def spans(self, sensor: str, start: int, end: int | None, for_s: float) -> bool:
        """Whether readings of `sensor` received within [start, end] span `for_s`."""
        times = self.received.get(sensor, ())
        first = bisect.bisect_left(times, start)
        last = (len(times) if end is None else bisect.bisect_right(times, end)) - 1
        return last >= first and times[last] - times[first] >= for_s * 1000


def opened_episodes(alerts: Iterable[Alert]) -> list[Episode]:
    """Fold alert state changes into every episode opened, fired or not.

    An episode that never fired has `fired` equal to its `since`.
    """
    opened: dict[tuple[str, str, int], Alert] = {}
    fired: dict[tuple[str, str, int], int] = {}
    resolved: dict[tuple[str, str, int], int] = {}
    for alert in alerts:
        key = (alert.rule, alert.sensor, alert.since)
        opened.setdefault(key, alert)
        if alert.state == "firing":
            fired[key] = min(alert.ts, fired.get(key, alert.ts))
        elif alert.state == "resolved":
            resolved[key] = alert.ts
    return [Episode(a.rule, a.sensor, a.kind, a.district, a.since, fired.get(key, a.since),
                    resolved.get(key)) for key, a in opened.items()]


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


@dataclass(frozen=True, slots=True)
class _Window:
    """A span of truth on one sensor: an injected event (`label` its type) or a clean episode
    (`label` its rule)."""

    sensor: str
    kind: str
    district: str
    label: str
    start: int
    end: int | None
    reach_ms: int = 0
    """The sensor's reporting interval: the least its window widens by (see `_overlaps`)."""


class _Pool:
    """Truth windows, indexed by sensor and by (kind, district)."""

    def __init__(self, windows: Sequence[_Window]) -> None:
        self.windows = windows
        self.on_sensor: dict[str, list[int]] = {}
        self.in_district: dict[tuple[str, str], list[int]] = {}
        for index, window in enumerate(windows):
            self.on_sensor.setdefault(window.sensor, []).append(index)
            self.in_district.setdefault((window.kind, window.district), []).append(index)

    def candidates(self, episode: Episode) -> list[int]:
        """Return the windows an episode may match: its sensor's, or its district's kind's."""
        if episode.is_district:
            return self.in_district.get((episode.kind, episode.district), [])
        return self.on_sensor.get(episode.sensor, [])


def _overlaps(episode: Episode, window: _Window, tolerance_ms: int) -> bool:
    """Whether an episode overlaps a truth window widened by the tolerance, or by the
    sensor's reporting interval when that is longer: what happens between two readings
    shows at the next (a heartbeat device reports a day's silence or drain a day late)."""
    widen = max(tolerance_ms, window.reach_ms)
    end = episode.resolved if episode.resolved is not None else episode.fired
    window_end = math.inf if window.end is None else window.end + widen
    return episode.since <= window_end and end >= window.start - widen


@dataclass(frozen=True, slots=True)
class _Scope:
    """Which windows of which pool a rule answers for: `labels` None means any."""

    pool: int
    kind: str
    labels: frozenset[str] | None
    counts: bool
    """Whether its windows are catchable (recall); False for a rule without `detects`."""
    sensors: frozenset[str] | None = None

    def holds(self, window: _Window) -> bool:
        return (window.kind == self.kind and (self.labels is None or window.label in self.labels)
                and (self.sensors is None or window.sensor in self.sensors))


@dataclass(slots=True)
class _Result:
    """One rule's matches: its row, the windows it answers for, its delay per window hit."""

    row: RuleScore
    kind: str
    catchable: list[tuple[int, int]]
    delays: dict[tuple[int, int], float]


def _injected(truths: Iterable[Truth], reach: Mapping[str, int]) -> list[_Window]:
    return [_Window(t.sensor, t.kind, t.district, t.type, t.start, t.end, reach.get(t.sensor, 0))
            for t in truths]


def _clean(found: Iterable[Episode], reach: Mapping[str, int]) -> list[_Window]:
    return [_Window(e.sensor, e.kind, e.district, e.rule, e.since, e.resolved,
                    reach.get(e.sensor, 0)) for e in found]


def score(truths: Sequence[Truth], alerts: Sequence[Episode], targets: Sequence[Target],
          sensor_days: Mapping[str, float], tolerance_ms: int,
          clean: Sequence[Episode] | None = None, evidence: Evidence | None = None,
          data_end_ms: int | None = None, scored_from_ms: int | None = None,
          intervals: Mapping[str, float] | None = None) -> list[RuleScore]:
    """Score each target rule (and any other rule seen in `alerts`), then subtotals and all.

    Args:
        truths: The injected faults and incidents of the run.
        alerts: The episodes to score.
        targets: The rules, with their kinds, `detects` and bases.
        sensor_days: The exposure per sensor kind.
        tolerance_ms: How far an episode may lie outside a truth window.
        clean: The episodes the condition rules raised on the run's clean signal;
            None when the run has none (condition rules are then scored on `truths`).
        evidence: What the platform received; with it, recall counts only the truths
            a rule could catch (the module's docstring). None: every truth counts.
        data_end_ms: The end of the data: an episode still active there lasts until
            it. None: such an episode is its firing instant.
        scored_from_ms: Where the scored span begins when the run began earlier (a
            warm-up): truths over before it count for precision only, and delays run
            from it at the earliest.
        intervals: Each sensor's reporting interval (s): a truth window on it widens by
            that much when it is longer than the tolerance (`_overlaps`).

    Returns:
        For each basis in BASES order that has rules: its rules (in the order of
        `targets`, then unknown rules by name) and its subtotal row; then the overall row.
    """
    if data_end_ms is not None:
        alerts = _until(alerts, data_end_ms)
        if evidence is not None:
            evidence = dataclasses.replace(evidence, opened=_until(evidence.opened, data_end_ms))
    by_rule = {target.rule: target for target in targets}
    for episode in alerts:
        by_rule.setdefault(episode.rule, Target(episode.rule, episode.kind))
    reach = {sensor: int(seconds * 1000) for sensor, seconds in (intervals or {}).items()}
    pools = [_Pool(_injected(truths, reach)), _Pool(_clean(clean or (), reach))]
    showed = {basis: evidence.showed(basis) for basis in (Basis.DEVICE, Basis.INCIDENT)
              } if evidence is not None else {}
    results: dict[str, _Result] = {}
    for name in [*(t.rule for t in targets), *sorted(set(by_rule) - {t.rule for t in targets})]:
        target = by_rule[name]
        if target.basis is Basis.CONDITION and clean is not None:
            scope = _Scope(1, target.kind, frozenset({name}), True, target.sensors)
        else:
            scope = _Scope(0, target.kind, target.detects, target.detects is not None,
                           target.sensors)
        catchable_from = _catchable(target, scope, evidence, showed.get(target.basis, {}),
                                    tolerance_ms)
        if scored_from_ms is not None:
            catchable_from = _scored(catchable_from, scored_from_ms)
        results[name] = _match(target, [e for e in alerts if e.rule == name], pools[scope.pool],
                               scope, sensor_days, tolerance_ms, catchable_from)
    rows: list[RuleScore] = []
    for basis in BASES:
        mine = [result for result in results.values() if result.row.basis is basis]
        if mine:
            rows.extend(result.row for result in mine)
            rows.append(_pooled(SUBTOTAL, basis, mine, sensor_days))
    rows.append(_pooled(OVERALL, None, list(results.values()), sensor_days))
    return rows


def _until(found: Sequence[Episode], end_ms: int) -> list[Episode]:
    """Return the episodes with those still active at the end of the data lasting until it."""
    return [episode if episode.resolved is not None
            else dataclasses.replace(episode, resolved=max(end_ms, episode.fired))
            for episode in found]


def _catchable(target: Target, scope: _Scope, evidence: Evidence | None,
               showed: Mapping[tuple[str, str], Sequence[Episode]], tolerance_ms: int
               ) -> Callable[[_Window], int | None]:
    """Return when each of a rule's truth windows became catchable (None: it never did)."""
    if evidence is not None and scope.pool == 1:  # clean episodes: observed over its `for`
        return lambda window: (window.start if evidence.spans(
            window.sensor, window.start, window.end, target.for_s) else None)
    if evidence is None or target.basis is Basis.CONDITION or (
            target.basis is Basis.INCIDENT and evidence.realised is None):
        return _from_start

    def shown(window: _Window) -> int | None:
        """When the rule's condition opened an episode over the truth, on its sensor or its
        district: at the truth's start for a silence, at the first reading that met it for a
        rule judged per reading (a drift is seen once it carries a reading past the level)."""
        found = [episode.since for sensor in
                 (window.sensor, f"{DISTRICT_PREFIX}{window.district}")
                 for episode in showed.get((target.rule, sensor), ())
                 if _overlaps(episode, window, tolerance_ms) and (
                     target.basis is not Basis.INCIDENT or evidence.spans(
                         episode.sensor, episode.since, episode.resolved, target.for_s))]
        if not found:
            return None
        if target.swept or target.basis is Basis.INCIDENT:
            return window.start
        return max(window.start, min(found))

    return shown


def _from_start(window: _Window) -> int:
    return window.start


def _scored(catchable_from: Callable[[_Window], int | None], scored_from_ms: int
            ) -> Callable[[_Window], int | None]:
    """Keep the windows that reach into the scored span, catchable from its start at the
    earliest."""
    def within(window: _Window) -> int | None:
        if window.end is not None and window.end < scored_from_ms:
            return None
        start = catchable_from(window)
        return None if start is None else max(start, scored_from_ms)

    return within


def _match(target: Target, mine: Sequence[Episode], pool: _Pool, scope: _Scope,
           sensor_days: Mapping[str, float], tolerance_ms: int,
           catchable_from: Callable[[_Window], int | None] = _from_start) -> _Result:
    """Match one rule's episodes with the windows of its scope.

    Recall counts the windows `catchable_from` gives a time, and the delay runs from it.
    """
    windows = pool.windows
    since = {i: catchable_from(window) for i, window in enumerate(windows)
             if scope.counts and scope.holds(window)}
    true_alerts = 0
    matched: set[tuple[str, int]] = set()
    delays: dict[tuple[int, int], float] = {}
    for episode in mine:
        hits = [i for i in pool.candidates(episode) if scope.holds(windows[i])
                and _overlaps(episode, windows[i], tolerance_ms)]
        true_alerts += bool(hits)
        if hits:
            matched.add((episode.sensor, episode.since))
        for i in hits:
            start = since.get(i)
            if start is None:
                continue
            delay = max(0.0, (episode.fired - start) / 1000)
            key = (scope.pool, i)
            delays[key] = min(delay, delays.get(key, math.inf))
    catchable = [(scope.pool, i) for i, start in since.items() if start is not None]
    row = RuleScore(target.rule, len(mine), true_alerts, len(catchable),
                    sum(key in delays for key in catchable), sensor_days.get(target.kind, 0.0),
                    tuple(delays[key] for key in catchable if key in delays), target.basis,
                    frozenset(matched))
    return _Result(row, target.kind, catchable, delays)


def _pooled(name: str, basis: Basis | None, results: Sequence[_Result],
            sensor_days: Mapping[str, float]) -> RuleScore:
    """Pool rules: every episode, each truth window once, its shortest delay."""
    first: dict[tuple[int, int], float] = {}
    for result in results:
        for key, delay in result.delays.items():
            first[key] = min(delay, first.get(key, math.inf))
    catchable = sorted({key for result in results for key in result.catchable})
    kinds = {result.kind for result in results}
    return RuleScore(name, sum(r.row.alerts for r in results),
                     sum(r.row.true_alerts for r in results), len(catchable),
                     sum(key in first for key in catchable),
                     sum(days for kind, days in sensor_days.items() if kind in kinds),
                     tuple(first[key] for key in catchable if key in first), basis)


TITLES = {
    Basis.DEVICE: "device-health rules: scored on the injected device faults",
    Basis.INCIDENT: "incident rules: scored on the injected incidents",
    Basis.CONDITION: "condition rules: scored on their episodes on the clean signal "
                     "(truths: those episodes)",
}
NO_CLEAN_TITLE = ("condition rules: this run has no clean signal, so scored on the injected "
                  "truth")


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(rows: Sequence[RuleScore], *, clean_signal: bool = True) -> str:
    """Return the scores as a fixed-width text table: a section per basis, then overall.

    `clean_signal` says whether condition rules were scored on a clean signal (their title).
    """
    header = ("rule", "alerts", "true", "precision", "truths", "found", "recall",
              "FA/sensor-day", "delay p50 s", "delay p90 s")
    cells = [header] + [
        (row.rule, str(row.alerts), str(row.true_alerts), _cell(row.precision, 3),
         str(row.truths), str(row.detected), _cell(row.recall, 3),
         _cell(row.false_alarms_per_sensor_day, 4), _cell(row.delay_p50_s, 0),
         _cell(row.delay_p90_s, 0)) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                         for i, cell in enumerate(values)).rstrip()

    lines = [line(header)]
    section: Basis | None = None
    for row, values in zip(rows, cells[1:], strict=True):
        if row.basis is not None and row.basis is not section:
            section = row.basis
            untold = section is Basis.CONDITION and not clean_signal
            lines.append(f"-- {NO_CLEAN_TITLE if untold else TITLES[section]}")
        lines.append(line(values))
    return "\n".join(lines)
