"""Parse at the edge: topic and payload bytes become a validated message or a rejection.

Past this module nothing re-checks shapes. Every rejection carries one of
`REASONS` (the last level of its dead-letter topic) and a sentence of detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

import msgspec

from urbanpulse.births import Limits, Refusal, check_birth, decode_error, outside_window, parse
from urbanpulse.kinds import KINDS
from urbanpulse.messages import Reading, SensorBirth, reading_decoder
from urbanpulse.topics import Channel

REASONS = (
    "oversize",           # payload larger than the configured limit
    "bad-topic",          # topic outside the grammar
    "malformed-json",     # not UTF-8 JSON at all
    "non-finite",         # NaN or Infinity where a number belongs
    "schema",             # JSON of the wrong shape or types
    "unknown-kind",       # kind not in the catalog
    "unknown-metric",     # metric the kind does not declare
    "out-of-range",       # outside the metric's physical range
    "topic-mismatch",     # topic levels and payload disagree
    "future-timestamp",   # device time too far ahead of ours
    "stale-timestamp",    # device time too far behind ours
    "influx-rejected",    # InfluxDB refused the point (type conflict, parse error)
    "reserved-attribute",  # a birth attribute named like a tag or field of `sensors`
)

M = TypeVar("M", Reading, SensorBirth)
_MAX_CACHED_TOPICS: Final = 1_000_000
_decode_reading: Final = reading_decoder.decode  # Final: compiled, a C static, not a dict lookup


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a message was refused: a reason from REASONS and a sentence."""

    reason: str
    detail: str


def _rejected(refusal: Refusal) -> Rejected:
    return Rejected(refusal.reason, refusal.detail)


class Decoder:
    """Validates readings and births for one topic root and one set of limits."""

    def __init__(self, *, root: str, max_payload_bytes: int, max_future_s: float,
                 max_age_s: float) -> None:
        self._root = root
        self._max_payload = max_payload_bytes
        self._max_future_ms = int(max_future_s * 1000)
        self._max_age_ms = int(max_age_s * 1000)
        self._limits = Limits(max_payload_bytes=max_payload_bytes,
                              max_future_ms=self._max_future_ms, max_age_ms=self._max_age_ms)
        self._reading_topics: dict[str, tuple[str, str, str]] = {}
        self._ranges = {name: {metric.name: (metric.low, metric.high)
                               for metric in kind.metrics.values()}
                        for name, kind in KINDS.items()}

    @property
    def reading_topics(self) -> Mapping[str, tuple[str, str, str]]:
        """Readings topics already accepted once, with their (district, kind, sensor)."""
        return self._reading_topics

    def _parse(self, topic: str, payload: bytes, channel: Channel,
               decoder: msgspec.json.Decoder[M]) -> M | Rejected:
        """Check size and topic, decode, and check the topic agrees with the payload."""
        message = parse(topic, payload, channel, decoder, root=self._root,
                        max_payload_bytes=self._max_payload)
        return _rejected(message) if isinstance(message, Refusal) else message

    def reading(self, topic: str, payload: bytes, now_ms: int) -> Reading | Rejected:
        """Return the reading in `payload`, or why it is refused, at time `now_ms`."""
        names = self._reading_topics.get(topic)
        if names is None or len(payload) > self._max_payload:
            reading = self._parse(topic, payload, Channel.READINGS, reading_decoder)
            if isinstance(reading, Rejected):
                return reading
            if len(self._reading_topics) >= _MAX_CACHED_TOPICS:
                self._reading_topics.clear()
            self._reading_topics[topic] = (reading.district, reading.kind, reading.sensor)
        else:
            # A topic seen before passed the grammar and name checks: only the payload
            # is new. Anything unusual takes the full path, which says what is wrong.
            try:
                reading = _decode_reading(payload)
            except msgspec.DecodeError as exc:
                return _rejected(decode_error(exc, payload))
            if (reading.district, reading.kind, reading.sensor) != names:
                return self._parse(topic, payload, Channel.READINGS, reading_decoder)
        ranges = self._ranges[reading.kind]
        for name, value in reading.values.items():
            limits = ranges.get(name)
            if limits is None:
                return Rejected("unknown-metric",
                                f"Kind {reading.kind!r} has no metric {name!r}.")
            if not limits[0] <= value <= limits[1]:
                metric = KINDS[reading.kind].metrics[name]
                return Rejected("out-of-range", f"{name}={value} {metric.unit} is outside "
                                f"{metric.low}..{metric.high}.")
        if (reading.ts > now_ms + self._max_future_ms
                or reading.ts < now_ms - self._max_age_ms):
            return self._outside_window(reading.ts, now_ms) or reading
        return reading

    def _outside_window(self, ts: int, now_ms: int) -> Rejected | None:
        """Return why device time `ts` is refused at `now_ms`, or None when it is in the window."""
        refusal = outside_window(ts, now_ms, self._limits)
        return None if refusal is None else _rejected(refusal)

    def birth(self, topic: str, payload: bytes,
              now_ms: int | None = None) -> SensorBirth | Rejected | None:
        """Return the birth in `payload`, None for a cleared retained topic, or a rejection.

        The checks are `urbanpulse.births.check_birth`'s, which the api applies too.
        At `now_ms` a birth gets the readings' time window: the newest birth
        wins, so one stamped far ahead would shadow every later one. Without it
        (a replay of a recorded run) time is not checked.
        """
        if not payload:
            return None
        birth = check_birth(topic, payload, root=self._root, now_ms=now_ms, limits=self._limits)
        return _rejected(birth) if isinstance(birth, Refusal) else birth
