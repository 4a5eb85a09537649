"""The edges of `urbanpulse score`: read truth and alerts, or replay a run through the engine.

    read_run        a jsonl file written by `urbanpulse sim --output`: truths and exposure
    read_alerts     alert payloads, one a line: bare JSON, {"topic", "payload"} jsonl, or
                    `mosquitto_sub -v` lines ("topic payload")
    query_alerts    the `alerts` measurement of InfluxDB for a time range (`ops.score_influx`)
    replay          evaluate rules on the readings of a run file in-process (no broker)
    replay_signals  the same on its readings, its clean signal, or both in one pass
    score_run_incidents  the alerts grouped into incidents by the ingester's desk, scored
    run_score       all of the command: the tables (or JSON) it prints

The scoring itself is `ops.score` (pure), each rule's basis `ops.score_basis`.
The clean signal of a run file is its readings, each replaced by the clean
record of the same sensor and `seq` where there is one (`simulator.fleet`):
condition rules are replayed on it, whatever the source of the alerts.
Unreadable files raise ConfigError, an unreachable InfluxDB or a refused query
an `api.errors.InfluxError`, each with a sentence.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
from array import array
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec

from ingest.alerts.engine import AlertEngine
from ingest.alerts.rules import Rule, load_rules
from ingest.decode import Decoder, Rejected
from ingest.derive import Derivation
from ops.score import (
    Basis,
    Episode,
    Evidence,
    RuleScore,
    episodes,
    format_table,
    opened_episodes,
    score,
)
from ops.score_basis import targets
from ops.score_goal import IncidentShortfall, Shortfall, incidents_unmet, report, unmet
from ops.score_incidents import (
    IncidentScore,
    format_incidents,
    replay_incidents,
    score_incidents,
    true_condition_alerts,
)
from ops.score_influx import read_influx
from urbanpulse import topics
from urbanpulse.errors import ConfigError, TopicError
from urbanpulse.messages import Alert, Truth, alert_decoder, reading_decoder, truth_decoder
from urbanpulse.settings import IngestSettings
from urbanpulse.topics import Channel, Topic

log = logging.getLogger(__name__)

SWEEP_EVERY_MS = 10_000
"""Replay judges staleness every 10 simulated seconds (the ingester: every real second)."""
_CLOCK_WINDOW = 5
_DAY_MS = 86_400_000


class _Envelope(msgspec.Struct):
    topic: str
    payload: msgspec.Raw = msgspec.Raw(b"null")
    retain: bool = False
    payload_text: str | None = None
    payload_base64: str | None = None

    def raw(self) -> bytes:
        """Return the payload's bytes, however the line carried them."""
        if self.payload_text is not None:
            return self.payload_text.encode()
        if self.payload_base64 is not None:
            return base64.b64decode(self.payload_base64, validate=True)
        return bytes(self.payload)


_envelope_decoder = msgspec.json.Decoder(_Envelope)


@dataclass(slots=True)
class Run:
    """What a run file says: its truth events, its sensors and kinds, and its time span.

    The span runs from the first birth (the run's start; the first reading when
    there are no births) to the last reading. A truth that began before the run
    (a long fault drawn for the run's first day) counts from the run's start:
    nothing could see it earlier.
    """

    truths: list[Truth] = field(default_factory=list)
    sensors: dict[str, str] = field(default_factory=dict)  # sensor → kind
    attributes: dict[str, dict[str, object]] = field(default_factory=dict)
    """The attributes each sensor's birth declared."""
    intervals: dict[str, float] = field(default_factory=dict)
    """The reporting interval each sensor's birth declared, seconds."""
    sites: dict[str, str] = field(default_factory=dict)
    """The site (街镇) each sensor's birth declared: the street of an incident it opens."""
    start_ms: int | None = None
    end_ms: int | None = None
    cleans: int = 0
    """Clean records: 0 when the run did not record its clean signal (or predates it)."""

    def sensor_days(self) -> dict[str, float]:
        """Return sensor-days per kind: sensors of the kind × the run's span in days."""
        if self.start_ms is None or self.end_ms is None:
            return {}
        days = (self.end_ms - self.start_ms) / _DAY_MS
        counts: dict[str, int] = {}
        for kind in self.sensors.values():
            counts[kind] = counts.get(kind, 0) + 1
        return {kind: count * days for kind, count in counts.items()}


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield number, line.strip()
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from None


def envelopes(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield the topic and payload bytes of each line of a `urbanpulse sim --output` file.

    An empty payload comes back as `null`; one the simulator wrote as
    `payload_text` or `payload_base64` (not valid JSON) comes back byte for byte.
    """
    for number, line in _lines(path):
        try:
            envelope = _envelope_decoder.decode(line)
        except msgspec.DecodeError as exc:
            split = _split_raw(line)  # a malformed payload spliced in verbatim
            if split is None:
                raise ConfigError(f"{path}, line {number}, is not a {{topic, payload}} JSON "
                                  f"line: {exc}.") from None
            yield split
            continue
        try:
            yield envelope.topic, envelope.raw()
        except ValueError:
            raise ConfigError(f"{path}, line {number}, has a payload_base64 that is not "
                              "base64.") from None


def _split_raw(line: bytes) -> tuple[str, bytes] | None:
    """Cut `{"topic":T,"retain":R,"payload":P}` by hand when P is not valid JSON.

    Files written before the simulator kept such payloads in `payload_text` have these lines.
    """
    for marker in (b',"retain":false,"payload":', b',"retain":true,"payload":'):
        head, found, payload = line.partition(marker)
        if found and head.startswith(b'{"topic":') and payload.endswith(b"}"):
            try:
                return msgspec.json.decode(head[9:], type=str), payload[:-1]
            except msgspec.DecodeError:
                return None
    return None


def _topic(topic: str) -> Topic | None:
    """Return a run file's topic parsed (None for one outside the grammar)."""
    try:
        return topics.parse(topic)
    except TopicError:
        return None


def read_run(path: Path, scored_from_ms: int | None = None) -> Run:
    """Read the truth events, sensors and time span of a `urbanpulse sim --output` file.

    `scored_from_ms` starts the span later than the run (the run's first part
    is a warm-up: rules learn their baselines on it, and it is not scored).
    """
    run = Run()
    births: list[int] = []
    readings: list[int] = []
    for topic, payload in envelopes(path):
        parsed = _topic(topic)
        channel = None if parsed is None else parsed.channel
        if parsed is not None and parsed.clean:
            run.cleans += 1
        elif channel is Channel.TRUTH:
            run.truths.append(truth_decoder.decode(payload))  # the simulator's own: well formed
        elif channel is Channel.READINGS:
            try:
                reading = reading_decoder.decode(payload)
            except msgspec.DecodeError:
                continue  # an injected malformed reading: the ingester dead-letters it
            run.sensors.setdefault(reading.sensor, reading.kind)
            readings.append(reading.ts)
        elif channel is Channel.SENSORS and payload != b"null":
            birth = msgspec.json.decode(payload)
            run.sensors[birth["sensor"]] = birth["kind"]
            run.attributes[birth["sensor"]] = birth.get("attributes") or {}
            run.intervals[birth["sensor"]] = float(birth["interval_s"])
            if isinstance(site := birth.get("site"), str):
                run.sites[birth["sensor"]] = site
            births.append(birth["ts"])
    if births or readings:
        began = min(births or readings)
        run.start_ms = max(began, scored_from_ms or 0)
        end = run.end_ms = max(readings or births)
        run.truths = [msgspec.structs.replace(t, start=max(t.start, began)) for t in run.truths
                      if (t.end is None or t.end >= began) and t.start <= end]
    return run


def read_alerts(path: Path) -> list[Alert]:
    """Read alert state changes, one a line, in any of the three accepted line forms."""
    alerts = []
    for number, line in _lines(path):
        payload = line
        if not line.startswith(b"{"):  # mosquitto_sub -v: "topic payload"
            _, _, payload = line.partition(b" ")
        elif line.startswith(b'{"topic"'):
            payload = _envelope_decoder.decode(line).raw()
        if payload.strip() in (b"", b"null"):
            continue  # a cleared retained alert topic
        try:
            alerts.append(alert_decoder.decode(payload))
        except msgspec.DecodeError as exc:
            raise ConfigError(f"{path}, line {number}, is not an alert: {exc}.") from None
    return alerts


@dataclass(slots=True)
class ReplayStats:
    """What a replay saw: readings evaluated, readings the ingester would dead-letter."""

    readings: int = 0
    rejected: int = 0
    received: dict[str, array[int]] = field(default_factory=dict)
    """The device time of each sensor's readings the replay accepted, in arrival order."""


class _Replayer:
    """One alert engine on a run's simulated time, fed its births and readings.

    The clock is simulated time: births and truths carry it, and readings move
    it to the second-latest ts of the last five (so one skewed clock does not
    move it). A reading arrives at its own ts when that lies ahead of the clock
    by no more than `max_future_s` (the ingester would accept it), else at the
    clock. Staleness is swept every SWEEP_EVERY_MS of the clock.

    Derived fields come from the ingester's `Derivation`. A replayer that
    `calibrates` learns the sensors' grades from their births, so it corrects
    low-cost air stations as the ingester does; one that does not takes every
    value as it reads, which is right for the clean signal (no sensor error).
    """

    def __init__(self, rules: Sequence[Rule], *, root: str, max_future_s: float,
                 max_age_s: float, stats: ReplayStats, calibrates: bool = True) -> None:
        self.engine = AlertEngine(rules)
        self.derivation = Derivation()
        self._calibrates = calibrates
        self.decoder = Decoder(root=root, max_payload_bytes=1 << 20, max_future_s=max_future_s,
                               max_age_s=max_age_s)
        self.stats = stats
        self.changes: list[Alert] = []
        self._max_future_ms = int(max_future_s * 1000)
        self._recent: list[int] = []
        self._now: int | None = None
        self._next_sweep = 0

    def advance(self, ts: int) -> int:
        """Move the clock to `ts` (never back), sweeping on the way; return the clock."""
        if self._now is None:
            self._now, self._next_sweep = ts, ts + SWEEP_EVERY_MS
        now = self._now = max(self._now, ts)
        while self._next_sweep <= now:
            self.changes.extend(self.engine.sweep(self._next_sweep))
            self._next_sweep += SWEEP_EVERY_MS
        return now

    def birth(self, topic: str, payload: bytes) -> None:
        """Register a sensor's birth, at its own time."""
        birth = self.decoder.birth(topic, b"" if payload == b"null" else payload)
        if birth is not None and not isinstance(birth, Rejected):
            self.engine.register(birth, self.advance(birth.ts))
            if self._calibrates:
                self.derivation.register(birth)

    def reading(self, topic: str, payload: bytes) -> None:
        """Evaluate one reading, or count it as one the ingester would dead-letter."""
        now = self._now
        if now is None:
            try:
                now = self.advance(reading_decoder.decode(payload).ts)
            except msgspec.DecodeError:
                return
        reading = self.decoder.reading(topic, payload, now)
        if isinstance(reading, Rejected):
            self.stats.rejected += 1
            return
        self.stats.readings += 1
        received = self.stats.received.get(reading.sensor)
        if received is None:
            received = self.stats.received[reading.sensor] = array("q")
        received.append(reading.ts)
        recent = self._recent
        recent.append(reading.ts)
        del recent[:-_CLOCK_WINDOW]
        now = self.advance(sorted(recent)[-2] if len(recent) > 1 else reading.ts)
        arrival = reading.ts if now < reading.ts <= now + self._max_future_ms else now
        derived = self.derivation.derive_encoded(reading, self.engine.zone(reading.sensor),
                                                 arrival)[0]
        self.changes.extend(self.engine.evaluate(reading, arrival, derived))

    def finish(self) -> list[Alert]:
        """Sweep once more at the last clock time; return every alert state change."""
        if self._now is not None:
            self.changes.extend(self.engine.sweep(self._now))
        return self.changes


@dataclass(slots=True)
class Replayed:
    """The alert state changes of a replay: on the measured readings, on the clean signal."""

    measured: list[Alert] = field(default_factory=list)
    clean: list[Alert] = field(default_factory=list)


def replay_signals(path: Path, rules: Sequence[Rule] | None,
                   clean_rules: Sequence[Rule] | None, *, root: str = "city",
                   max_future_s: float = 300, max_age_s: float = 31 * 86_400,
                   stats: ReplayStats | None = None) -> Replayed:
    """Evaluate `rules` on a run file's readings and `clean_rules` on its clean signal, at once.

    Either may be None (that replay is not done). The measured replay takes the
    births and readings as the ingester would (readings it would dead-letter are
    counted in `stats` and skipped), the clean one the births and the clean
    signal: each reading, or its clean record when it has one, once.
    """
    def replayer(chosen: Sequence[Rule], seen: ReplayStats | None,
                 calibrates: bool) -> _Replayer:
        return _Replayer(chosen, root=root, max_future_s=max_future_s, max_age_s=max_age_s,
                         stats=seen if seen is not None else ReplayStats(),
                         calibrates=calibrates)

    measured = None if rules is None else replayer(rules, stats, True)
    clean = None if clean_rules is None else replayer(clean_rules, None, False)
    engines = [engine for engine in (measured, clean) if engine is not None]
    if not engines:
        return Replayed()
    signal = CleanSignal()
    for topic, payload in envelopes(path):
        parsed = _topic(topic)
        if parsed is None:
            continue
        if parsed.channel is Channel.SENSORS:
            for engine in engines:
                engine.birth(topic, payload)
            continue
        if clean is not None and (picked := signal.pick(parsed, payload)) is not None:
            clean.reading(*picked)
        if measured is None:
            continue
        if parsed.channel is Channel.READINGS:
            measured.reading(topic, payload)
        elif parsed.channel is Channel.TRUTH and not parsed.clean:
            measured.advance(truth_decoder.decode(payload).start)
    return Replayed(measured=[] if measured is None else measured.finish(),
                    clean=[] if clean is None else clean.finish())


class CleanSignal:
    """Picks a run's clean signal out of its messages, in order: each reading, or its record.

    A clean record (`{root}/truth/.../clean`) carries what the reading of the same
    sensor and `seq` would have said without sensor error and device faults, and
    comes before it; a reading without one stands for itself. A reading whose
    `seq` was told already (a duplicate's copy, one held back) is passed over.
    """

    def __init__(self) -> None:
        self._told: dict[str, set[int]] = {}

    def pick(self, topic: Topic, payload: bytes) -> tuple[str, bytes] | None:
        """Return the readings topic and payload of the clean value a message tells, if any."""
        if not topic.clean and topic.channel is not Channel.READINGS:
            return None
        try:
            reading = reading_decoder.decode(payload)
        except msgspec.DecodeError:
            return None  # a mangled reading: its clean record came before it
        seqs = self._told.setdefault(reading.sensor, set())
        if topic.clean:
            seqs.add(reading.seq)
            return topics.reading_topic(topic.district, topic.kind, topic.sensor,
                                        root=topic.root), payload
        if reading.seq in seqs:
            return None
        seqs.add(reading.seq)
        return str(topic), payload


def replay(path: Path, rules: Sequence[Rule], *, root: str = "city",
           max_future_s: float = 300, max_age_s: float = 31 * 86_400,
           stats: ReplayStats | None = None) -> list[Alert]:
    """Evaluate `rules` on the births and readings of a run file as the ingester would."""
    return replay_signals(path, rules, None, root=root, max_future_s=max_future_s,
                          max_age_s=max_age_s, stats=stats).measured


def _usable(received: Mapping[str, Sequence[int]], opened: Iterable[Episode],
            rules: Sequence[Rule], end_ms: int | None) -> dict[str, list[int]]:
    """Return each sensor's received readings that did not fail quality control, sorted.

    A reading fails while an alert of a QC rule (`qc: true`) is open on its
    sensor: the engine's other rules did not judge it.
    """
    qc = {rule.name for rule in rules if getattr(rule, "qc", False)}
    failing: dict[str, list[tuple[int, float]]] = {}
    for episode in opened:
        if episode.rule in qc:
            until = episode.resolved if episode.resolved is not None else end_ms
            failing.setdefault(episode.sensor, []).append(
                (episode.since, math.inf if until is None else until))
    return {sensor: [ts for ts in sorted(times) if not any(
                start <= ts <= end for start, end in failing.get(sensor, ()))]
            for sensor, times in received.items()}


def _within(found: Iterable[Episode], start_ms: int | None) -> list[Episode]:
    """Return the episodes still open at `start_ms` or opened after it (all: None)."""
    return [episode for episode in found if start_ms is None or episode.resolved is None
            or episode.resolved >= start_ms]


def score_run_incidents(run: Run, changes: Sequence[Alert], rules: Sequence[Rule],
                        rows: Sequence[RuleScore], *, tolerance_ms: int,
                        scored_from_ms: int | None, in_order: bool,
                        shown: Sequence[Episode] | None = None,
                        judged_clean: Collection[str] = frozenset(),
                        evidence: Evidence | None = None) -> IncidentScore:
    """Group a run's alert changes into incidents on the ingester's desk and score them.

    `in_order` says the changes come as the engine emitted them (a replay);
    otherwise (a file, InfluxDB) they are put in time order first. A platform
    incident is explained by real conditions when every alert it groups is one
    the rule scoring `rows` found true of a condition rule. `shown` holds the
    episodes of the rules `judged_clean` on the run's clean signal: an injected
    incident none of them fired over, on readings the platform received (`evidence`),
    is unseen, not missed.
    """
    ordered = changes if in_order else sorted(changes, key=lambda alert: alert.ts)
    platform = replay_incidents(ordered, rules, run.sites)
    return score_incidents(run.truths, platform, rules, tolerance_ms=tolerance_ms,
                           real_alerts=true_condition_alerts(rows),
                           scored_from_ms=scored_from_ms, shown=shown,
                           judged_clean=judged_clean, evidence=evidence)


def run_score(settings: IngestSettings, *, truth: Path, alerts: Path | None, use_replay: bool,
              start: datetime | None, end: datetime | None, tolerance_s: float,
              as_json: bool, scored_from: datetime | None = None, goal: bool = False) -> str:
    """Score the rules of `settings` on one run; return the table (or JSON) to print.

    Condition rules are scored on their episodes on the run's clean signal when
    the truth file recorded it, whatever the source of the alerts. The run's
    readings are replayed through the engine whatever the source of the alerts,
    for the evidence of what the platform received (`ops.score.Evidence`).
    With `scored_from`, everything before it is a warm-up: replayed, so that
    rules learn their baselines, but not scored (truths, episodes and exposure
    count from it). The alerts, whatever their source, are grouped into incidents on
    the ingester's desk and scored against the injected incidents: that table follows
    the rules' (`score_run_incidents`). With `goal`, the quality goal's unmet targets
    follow (`ops.score_goal`).
    """
    rules = load_rules(Path(settings.ingest_rules) if settings.ingest_rules else None)
    run = read_run(truth, None if scored_from is None else int(scored_from.timestamp() * 1000))
    # A rule type without a basis stops the command here.
    scoring = targets(rules, {sensor: (kind, run.attributes.get(sensor, {}))
                              for sensor, kind in run.sensors.items()})
    # The clean signal's rules: the condition rules (their truth) and the incident rules
    # (what each incident really did to its sensors, as the rule defines it).
    bases = {target.rule: target.basis for target in scoring}
    on_clean = [rule for rule in rules if bases[rule.name] is not Basis.DEVICE] \
        if run.cleans else None
    changes: list[Alert] | None = None  # None: from the replay below
    if alerts is not None:
        changes = read_alerts(alerts)
    elif not use_replay:
        if start is None or end is None:
            raise ConfigError("Say where the alerts come from: --alerts FILE, --replay, or "
                              "--start and --end (with --influx-url/--influx-db).")
        changes = asyncio.run(read_influx(settings, start, end))
    stats = ReplayStats()
    replayed = replay_signals(truth, rules, on_clean, root=settings.topic_root,
                              max_future_s=settings.ingest_max_future_s,
                              max_age_s=settings.ingest_max_age_s, stats=stats)
    if changes is None:
        changes = replayed.measured
    # What showed in the scored span (an outage over before it was a warm-up's).
    opened = _within(opened_episodes(replayed.measured), run.start_ms)
    realised = episodes(replayed.clean)
    clean = None if on_clean is None else [
        episode for episode in realised if bases[episode.rule] is Basis.CONDITION]
    evidence = Evidence(opened, _usable(stats.received, opened, rules, run.end_ms),
                        None if on_clean is None else _within(
                            [episode for episode in realised
                             if bases[episode.rule] is Basis.INCIDENT], run.start_ms))
    rows = score(run.truths, _within(episodes(changes), run.start_ms), scoring,
                 run.sensor_days(), int(tolerance_s * 1000), clean, evidence, run.end_ms,
                 scored_from_ms=run.start_ms if scored_from is not None else None,
                 intervals=run.intervals)
    incidents = score_run_incidents(
        run, changes, rules, rows, tolerance_ms=int(tolerance_s * 1000),
        scored_from_ms=run.start_ms if scored_from is not None else None,
        in_order=alerts is None and use_replay,
        shown=None if on_clean is None else realised,
        judged_clean=frozenset(rule.name for rule in on_clean or ()), evidence=evidence)
    missed: list[Shortfall | IncidentShortfall] = [*unmet(rows, rules, run.intervals, {
        target.rule: sorted(target.sensors if target.sensors is not None else
                            (s for s, kind in run.sensors.items() if kind == target.kind))
        for target in scoring}), *incidents_unmet(incidents)] if goal else []
    if as_json:
        return msgspec.json.encode({
            "tolerance_s": tolerance_s, "truths": len(run.truths), "sensors": len(run.sensors),
            "scored_from": run.start_ms, "clean_signal": run.cleans > 0,
            "clean_episodes": None if clean is None else len(
                [episode for episode in clean if episode.resolved is None
                 or episode.resolved >= (run.start_ms or 0)]),
            "rules": [row.as_dict() for row in rows], "incidents": incidents.as_dict(),
            **({"goal": {"met": not missed, "unmet": [str(s) for s in missed]}}
               if goal else {})}).decode()
    tables = f"{format_table(rows, clean_signal=run.cleans > 0)}\n{format_incidents(incidents)}"
    return f"{tables}\n{report(missed, incidents=True)}" if goal else tables
