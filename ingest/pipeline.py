"""From accepted message to acknowledgement: batching, writing, dead-lettering.

`Pipeline.accept` takes one message and an opaque acknowledgement token. The
token is handed back through `Acknowledger.ack` only when the message may be
acknowledged: after the batch holding it got 204 from InfluxDB, or after it was
dead-lettered. A crash before that loses nothing: the broker redelivers. The
number of tokens awaiting acknowledgement is bounded by the broker's Receive
Maximum, which is the ingester's backpressure. The readings of a written batch
go to `on_written` (rollups, latest state) just before their acknowledgements.
A reading's derived fields come from its `Derivation`, which the births feed
with the sensors' grades, so that low-cost stations are calibrated first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ingest.alerts.engine import AlertEngine
from ingest.census import Census
from ingest.decode import Decoder, Rejected
from ingest.derive import ZONED, Derivation
from ingest.lag import LagHistogram
from ingest.points import PointEncoder, birth_point
from ingest.rejections import RejectionLog, dead_letter
from ingest.writer import InfluxWriter
from urbanpulse.errors import LineProtocolError
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Alert, Reading, SensorBirth, encoder
from urbanpulse.topics import Channel, channel_prefix, rejected_topic

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Publishes one QoS 1 message; `token` is acknowledged once the broker has it."""

    def publish(self, topic: str, payload: bytes, *, retain: bool,
                token: object | None = None) -> None: ...


Handler = Callable[[str, bytes, object], None]
"""Takes a message that is not a reading or birth (a command) with its acknowledgement token."""
Written = Callable[[list[Reading | None], list[Mapping[str, FieldValue] | None]], None]
"""Takes the readings of a batch InfluxDB wrote and their derived fields, None for a point
that is not a reading (a birth, an alert change, a rollup) or that InfluxDB refused."""


class Acknowledger(Protocol):
    """Acknowledges messages by the tokens `Pipeline.accept` was given."""

    def ack(self, tokens: Sequence[object]) -> None: ...


@dataclass(slots=True)
class _Batch:
    lines: list[str] = field(default_factory=list)
    tokens: list[object | None] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)  # with payloads: what to dead-letter
    payloads: list[bytes] = field(default_factory=list)  # (two lists: no tuple per reading)
    stamps: list[int] = field(default_factory=list)  # device ts of readings, for the lag
    readings: list[Reading | None] = field(default_factory=list)  # for rollups, latest state
    derived: list[Mapping[str, FieldValue] | None] = field(default_factory=list)
    opened: float = 0.0


@dataclass(slots=True)
class PipelineStats:
    """What the pipeline has done since it started."""

    received: int = 0
    written: int = 0
    births: int = 0
    batches: int = 0
    ignored: int = 0
    """Messages not taken at all: QoS 0 or 2 on the ingester's topics."""
    rejected: Counter[str] = field(default_factory=Counter)
    lag: LagHistogram = field(default_factory=LagHistogram)


class Pipeline:
    """Validates, batches and writes messages; dead-letters what cannot be written."""

    def __init__(self, *, decoder: Decoder, writer: InfluxWriter, publisher: Publisher,
                 acknowledger: Acknowledger, root: str, batch_size: int,
                 flush_interval_s: float, engine: AlertEngine | None = None,
                 on_alerts: Callable[[list[Alert]], None] = lambda alerts: None,
                 commands: Mapping[str, Handler] | None = None,
                 rejection_log: RejectionLog | None = None,
                 on_written: Written | None = None,
                 derivation: Derivation | None = None,
                 census: Census | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._decoder = decoder
        self._writer = writer
        self._publisher = publisher
        self._acknowledger = acknowledger
        self._root = root
        self._batch_size = batch_size
        self._flush_interval = flush_interval_s
        self._clock = clock
        self._engine = engine
        self._on_alerts = on_alerts
        self._commands = dict(commands or {})
        self._on_written = on_written
        self.derivation = derivation if derivation is not None else Derivation()
        """Derives each reading's fields, calibrating where a kind calibrates (births tell
        it the grades; `Derivation.seed` rebuilds its calibrations at start)."""
        self.census = census if census is not None else Census()
        """The births taken, by district and kind (`sensors_announced`, with the metrics)."""
        self.rejection_log = rejection_log or RejectionLog(log, burst=5, interval_s=60)
        self._births = channel_prefix(Channel.SENSORS, root=root)
        self.accepting = True
        """False once the process drains: messages are then left to the broker to redeliver."""
        self._encoder = PointEncoder()
        self._reading_topics = decoder.reading_topics
        self._batch = _Batch()
        self._has_data = asyncio.Event()
        self._full = asyncio.Event()
        self._writing = 0
        self.stats = PipelineStats()

    @property
    def pending(self) -> int:
        """Messages accepted but not yet acknowledged."""
        return len(self._batch.lines) + self._writing

    def accept(self, topic: str, payload: bytes, token: object) -> None:
        """Take one message; its token is acknowledged once the message is safe.

        A message on a topic of `commands` goes to its handler instead. While
        not `accepting`, a message is left unacknowledged: the broker redelivers it.
        """
        if not self.accepting:
            return
        if topic not in self._reading_topics:  # a first reading, a birth or a command
            command = self._commands.get(topic)
            if command is not None:
                command(topic, payload, token)
                return
            if topic.startswith(self._births):
                self.stats.received += 1
                self._accept_birth(topic, payload, token)
                return
        self.stats.received += 1
        now_ms = int(self._clock() * 1000)
        reading = self._decoder.reading(topic, payload, now_ms)
        if isinstance(reading, Rejected):
            self.dead_letter(topic, payload, reading, token)
            return
        engine = self._engine
        try:
            derived, extra = self.derivation.derive_encoded(
                reading, engine.zone(reading.sensor) if engine is not None
                and reading.kind in ZONED else None, now_ms)
            line = self._encoder.line(topic, reading, extra)
        except LineProtocolError as exc:
            self.dead_letter(topic, payload, Rejected("schema", str(exc)), token)
            return
        if engine is not None:
            changes = engine.evaluate(reading, now_ms, derived)
            if changes:
                try:
                    self._on_alerts(changes)
                except Exception:  # an alert problem must not cost the reading
                    log.exception("publishing %d alert changes failed", len(changes))
        batch = self._batch  # _add, inlined: this runs for every reading
        if not batch.lines:
            batch.opened = time.monotonic()
            self._has_data.set()
        batch.lines.append(line)
        batch.tokens.append(token)
        batch.topics.append(topic)
        batch.payloads.append(payload)
        batch.stamps.append(reading.ts)
        batch.readings.append(reading)
        batch.derived.append(derived)
        if len(batch.lines) >= self._batch_size:
            self._full.set()

    def _accept_birth(self, topic: str, payload: bytes, token: object) -> None:
        birth = self._decoder.birth(topic, payload, int(self._clock() * 1000))
        if birth is None:
            self._acknowledger.ack((token,))
            return
        if isinstance(birth, Rejected):
            self.dead_letter(topic, payload, birth, token)
            return
        try:
            line = birth_point(birth)
        except LineProtocolError as exc:
            self.dead_letter(topic, payload, Rejected("schema", str(exc)), token)
            return
        self.stats.births += 1
        self._register(birth, int(self._clock() * 1000))
        self._add(line, token, topic, payload, -1)

    def _register(self, birth: SensorBirth, now_ms: int) -> None:
        """Tell the derivation (the sensor's grade), the alert engine and the census."""
        self.derivation.register(birth)
        if self._engine is not None:
            self._engine.register(birth, now_ms)
        self.census.add(birth)

    def restore_births(self, messages: Sequence[tuple[str, bytes]]) -> int:
        """Register the valid births among retained `messages` with the alert engine, the
        derivation (the sensors' grades) and the census.

        Read-only: each was written or dead-lettered when it first arrived, so
        an invalid one is skipped here, not dead-lettered again. Returns how
        many were registered.
        """
        now_ms = int(self._clock() * 1000)
        registered = 0
        for topic, payload in messages:
            birth = self._decoder.birth(topic, payload, now_ms)
            if birth is not None and not isinstance(birth, Rejected):
                self._register(birth, now_ms)
                registered += 1
        return registered

    def add_point(self, line: str) -> None:
        """Write a point of the ingester's own (an alert change, a rollup) with the next batch."""
        self._add(line, None, "", b"", -1)

    def _add(self, line: str, token: object | None, topic: str, payload: bytes,
             stamp: int) -> None:
        batch = self._batch
        if not batch.lines:
            batch.opened = time.monotonic()
            self._has_data.set()
        batch.lines.append(line)
        batch.tokens.append(token)
        batch.topics.append(topic)
        batch.payloads.append(payload)
        batch.stamps.append(stamp)
        batch.readings.append(None)
        batch.derived.append(None)
        if len(batch.lines) >= self._batch_size:
            self._full.set()

    def dead_letter(self, topic: str, payload: bytes, rejected: Rejected,
                    token: object | None = None) -> None:
        """Publish a rejection on `{root}/rejected/{reason}` and count it.

        The rejected message's `token` is acknowledged once the broker has its dead letter.
        """
        self.stats.rejected[rejected.reason] += 1
        # Bounded, not the payload itself: a 1 MB payload of control bytes was a 6 MB letter.
        message = dead_letter(topic, payload, rejected.reason, rejected.detail,
                              int(self._clock() * 1000))
        self.rejection_log.rejected(topic, rejected.reason, rejected.detail, payload)
        self._publisher.publish(rejected_topic(rejected.reason, root=self._root),
                                encoder.encode(message), retain=False, token=token)

    async def run(self) -> None:
        """Flush batches for ever: when full, or `flush_interval_s` after their first line."""
        while True:
            await self._has_data.wait()
            wait = self._flush_interval - (time.monotonic() - self._batch.opened)
            if wait > 0 and not self._full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), wait)
            await self.flush()

    async def drain(self) -> None:
        """Flush without waiting for the interval until nothing is pending (run() must run)."""
        while self.pending:
            if self._batch.lines:
                self._full.set()
            await asyncio.sleep(0.01)

    async def flush(self) -> None:
        """Write the open batch now, dead-letter refused points, acknowledge its messages."""
        batch = self._batch
        if not batch.lines:
            return
        self._batch = _Batch()
        self._has_data.clear()
        self._full.clear()
        self._writing = len(batch.lines)
        try:
            refused = await self._writer.write(batch.lines)
        finally:
            self._writing = 0
        self.stats.batches += 1
        if not refused:  # the common case: everything written, in one pass each
            tokens = [token for token in batch.tokens if token is not None]
            self.stats.written += len(tokens)
            self.stats.lag.add(int(self._clock() * 1000),
                               [stamp for stamp in batch.stamps if stamp >= 0])
            self._written(batch)
            self._acknowledger.ack(tokens)
            return
        refused_at = set()
        for index, message in refused:
            batch.readings[index] = batch.derived[index] = None
            if batch.tokens[index] is None:  # our own point: nothing to dead-letter
                log.error("InfluxDB refused a point of the ingester's own: %s", message)
            else:
                self.dead_letter(batch.topics[index], batch.payloads[index],
                                 Rejected("influx-rejected", message), batch.tokens[index])
            refused_at.add(index)
        self.stats.written += sum(1 for index, token in enumerate(batch.tokens)
                                  if token is not None and index not in refused_at)
        self.stats.lag.add(int(self._clock() * 1000), [
            stamp for index, stamp in enumerate(batch.stamps)
            if stamp >= 0 and index not in refused_at])
        self._written(batch)
        self._acknowledger.ack([token for index, token in enumerate(batch.tokens)
                                if token is not None and index not in refused_at])

    def _written(self, batch: _Batch) -> None:
        """Hand the written readings on (rollups, latest state) before they are acknowledged.

        Before: a crash between the two leaves them unacknowledged, and the
        broker's redelivery is then recognised as a duplicate.
        """
        if self._on_written is None:
            return
        try:
            self._on_written(batch.readings, batch.derived)
        except Exception:  # a rollup problem must not cost the readings
            log.exception("keeping rollups and latest state of %d points failed",
                          len(batch.readings))
