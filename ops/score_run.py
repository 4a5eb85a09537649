"""The edges of `urbanpulse score`: read truth and alerts, or replay a run through the engine.

    read_run       a jsonl file written by `urbanpulse sim --output`: truths and exposure
    read_alerts    alert payloads, one a line: bare JSON, {"topic", "payload"} jsonl, or
                   `mosquitto_sub -v` lines ("topic payload")
    query_alerts   the `alerts` measurement of InfluxDB for a time range (`ops.score_influx`)
    replay         evaluate rules on the readings of a run file in-process (no broker)
    run_score      all of the command: the table (or JSON) it prints

The scoring itself is `ops.score` (pure). Unreadable files raise ConfigError,
an unreachable InfluxDB or a refused query an `api.errors.InfluxError`, each
with a sentence.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec

from ingest.alerts.engine import AlertEngine
from ingest.alerts.rules import Rule, load_rules
from ingest.decode import Decoder, Rejected
from ingest.derive import derive
from ops.score import Target, episodes, format_table, score
from ops.score_influx import read_influx
from urbanpulse import topics
from urbanpulse.errors import ConfigError, TopicError
from urbanpulse.messages import Alert, Truth, alert_decoder, reading_decoder, truth_decoder
from urbanpulse.settings import IngestSettings
from urbanpulse.topics import Channel

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
    start_ms: int | None = None
    end_ms: int | None = None

    def sensor_days(self) -> dict[str, float]:
        """Return sensor-days per kind: sensors of the kind × the run's span in days."""
        if self.start_ms is None or self.end_ms is None:
            return {}
        days = (self.end_ms - self.start_ms) / _DAY_MS
        counts: dict[str, int] = {}
        for kind in self.sensors.values():
            counts[kind] = counts.get(kind, 0) + 1
        return {kind: count * days for kind, count in counts.items()}


def targets(rules: Sequence[Rule]) -> list[Target]:
    """Return the scoring target of each rule: its kind and `detects` types."""
    return [Target(rule.name, rule.kind,
                   None if rule.detects is None else frozenset(rule.detects)) for rule in rules]


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


def _channel(topic: str) -> Channel | None:
    """Return the channel of a run file's topic (None for one outside the grammar)."""
    try:
        return topics.parse(topic).channel
    except TopicError:
        return None


def read_run(path: Path) -> Run:
    """Read the truth events, sensors and time span of a `urbanpulse sim --output` file."""
    run = Run()
    births: list[int] = []
    readings: list[int] = []
    for topic, payload in envelopes(path):
        channel = _channel(topic)
        if channel is Channel.TRUTH:
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
            births.append(birth["ts"])
    if births or readings:
        run.start_ms = min(births or readings)
        run.end_ms = max(readings or births)
        start, end = run.start_ms, run.end_ms
        run.truths = [msgspec.structs.replace(t, start=max(t.start, start)) for t in run.truths
                      if (t.end is None or t.end >= start) and t.start <= end]
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


def replay(path: Path, rules: Sequence[Rule], *, root: str = "city",
           max_future_s: float = 300, max_age_s: float = 31 * 86_400,
           stats: ReplayStats | None = None) -> list[Alert]:
    """Evaluate `rules` on the births and readings of a run file as the ingester would.

    The replay clock is simulated time: births and truths carry it, and readings
    move it to the second-latest ts of the last five (so one skewed clock does
    not move it). A reading arrives at its own ts when that lies ahead of the
    clock by no more than `max_future_s` (the ingester would accept it), else at
    the clock. Staleness is swept every SWEEP_EVERY_MS of the clock.
    """
    stats = stats if stats is not None else ReplayStats()
    engine = AlertEngine(rules)
    decoder = Decoder(root=root, max_payload_bytes=1 << 20, max_future_s=max_future_s,
                      max_age_s=max_age_s)
    max_future_ms = int(max_future_s * 1000)
    changes: list[Alert] = []
    recent: list[int] = []
    now: int | None = None
    next_sweep = 0

    def advance(ts: int) -> None:
        nonlocal now, next_sweep
        if now is None:
            now, next_sweep = ts, ts + SWEEP_EVERY_MS
        now = max(now, ts)
        while next_sweep <= now:
            changes.extend(engine.sweep(next_sweep))
            next_sweep += SWEEP_EVERY_MS

    for topic, payload in envelopes(path):
        channel = _channel(topic)
        if channel is Channel.SENSORS:
            birth = decoder.birth(topic, b"" if payload == b"null" else payload)
            if birth is not None and not isinstance(birth, Rejected):
                advance(birth.ts)
                assert now is not None
                engine.register(birth, now)
        elif channel is Channel.TRUTH:
            advance(truth_decoder.decode(payload).start)
        elif channel is Channel.READINGS:
            if now is None:
                try:
                    advance(reading_decoder.decode(payload).ts)
                except msgspec.DecodeError:
                    continue
            assert now is not None
            reading = decoder.reading(topic, payload, now)
            if isinstance(reading, Rejected):
                stats.rejected += 1
                continue
            stats.readings += 1
            recent.append(reading.ts)
            del recent[:-_CLOCK_WINDOW]
            advance(sorted(recent)[-2] if len(recent) > 1 else reading.ts)
            arrival = reading.ts if now < reading.ts <= now + max_future_ms else now
            derived = derive(reading, engine.zone(reading.sensor))
            changes.extend(engine.evaluate(reading, arrival, derived))
    if now is not None:
        changes.extend(engine.sweep(now))
    return changes


def run_score(settings: IngestSettings, *, truth: Path, alerts: Path | None, use_replay: bool,
              start: datetime | None, end: datetime | None, tolerance_s: float,
              as_json: bool) -> str:
    """Score the rules of `settings` on one run; return the table (or JSON) to print."""
    rules = load_rules(Path(settings.ingest_rules) if settings.ingest_rules else None)
    run = read_run(truth)
    if alerts is not None:
        changes = read_alerts(alerts)
    elif use_replay:
        changes = replay(truth, rules, root=settings.topic_root,
                         max_future_s=settings.ingest_max_future_s,
                         max_age_s=settings.ingest_max_age_s)
    elif start is not None and end is not None:
        changes = asyncio.run(read_influx(settings, start, end))
    else:
        raise ConfigError("Say where the alerts come from: --alerts FILE, --replay, or "
                          "--start and --end (with --influx-url/--influx-db).")
    rows = score(run.truths, episodes(changes), targets(rules), run.sensor_days(),
                 int(tolerance_s * 1000))
    if as_json:
        return msgspec.json.encode({"tolerance_s": tolerance_s, "truths": len(run.truths),
                                    "sensors": len(run.sensors),
                                    "rules": [row.as_dict() for row in rows]}).decode()
    return format_table(rows)
