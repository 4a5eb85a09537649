"""Parse at the edge: topic and payload bytes become a validated message or a rejection.

Past this module nothing re-checks shapes. Every rejection carries one of
`REASONS` (the last level of its dead-letter topic) and a sentence of detail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

import msgspec

from ingest.points import RESERVED_ATTRIBUTES
from urbanpulse.errors import TopicError
from urbanpulse.kinds import KINDS
from urbanpulse.messages import Reading, SensorBirth, birth_decoder, reading_decoder
from urbanpulse.topics import NAME, Channel, check_name, sensor_topic_shape, split_sensor_topic

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

MAX_ATTRIBUTE_NAME: Final = 64
_RESERVED_LIST: Final = ", ".join(sorted(RESERVED_ATTRIBUTES))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


M = TypeVar("M", Reading, SensorBirth)
_MAX_CACHED_TOPICS: Final = 1_000_000
_decode_reading: Final = reading_decoder.decode  # Final: compiled, a C static, not a dict lookup
_match_name: Final = NAME.match  # check_name's test, without check_name's Python frame


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a message was refused: a reason from REASONS and a sentence."""

    reason: str
    detail: str


def _decode_error(exc: msgspec.DecodeError, payload: bytes) -> Rejected:
    if isinstance(exc, msgspec.ValidationError):
        if str(exc).startswith("Number out of range"):  # a float literal overflowing to inf
            return Rejected("non-finite", f"A number is not finite: {exc}.")
        return Rejected("schema", f"Payload does not match the schema: {exc}.")
    if b"NaN" in payload or b"Infinity" in payload:
        return Rejected("non-finite", "NaN or Infinity is not a JSON number.")
    return Rejected("malformed-json", f"Payload is not valid JSON: {exc}.")


class Decoder:
    """Validates readings and births for one topic root and one set of limits."""

    def __init__(self, *, root: str, max_payload_bytes: int, max_future_s: float,
                 max_age_s: float) -> None:
        self._root = root
        self._max_payload = max_payload_bytes
        self._max_future_ms = int(max_future_s * 1000)
        self._max_age_ms = int(max_age_s * 1000)
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
        if len(payload) > self._max_payload:
            return Rejected("oversize", f"Payload of {len(payload)} bytes exceeds the limit of "
                            f"{self._max_payload}.")
        names = split_sensor_topic(topic, channel, root=self._root)  # once per new topic
        if names is None:
            return Rejected("bad-topic", f"Topic {topic!r} is not "
                            f"{sensor_topic_shape(channel, root=self._root)}.")
        try:
            message = decoder.decode(payload)
        except msgspec.DecodeError as exc:
            return _decode_error(exc, payload)
        if (message.district, message.kind, message.sensor) != names:
            return Rejected("topic-mismatch", f"Payload names district {message.district!r}, "
                            f"kind {message.kind!r} and sensor {message.sensor!r} but the "
                            f"topic {topic!r} does not.")
        if message.kind not in KINDS:
            return Rejected("unknown-kind", f"Kind {message.kind!r} is not in the catalog.")
        if _match_name(message.district) is None or _match_name(message.sensor) is None:
            try:  # one of them raises, saying why
                check_name(message.district, what="district")
                check_name(message.sensor, what="sensor id")
            except TopicError as exc:
                return Rejected("bad-topic", str(exc))
        return message

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
                return _decode_error(exc, payload)
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
        if ts > now_ms + self._max_future_ms:
            return Rejected("future-timestamp", f"ts {ts} is {ts - now_ms} ms "
                            "ahead of the ingester's clock.")
        if ts < now_ms - self._max_age_ms:
            return Rejected("stale-timestamp", f"ts {ts} is {now_ms - ts} ms "
                            "behind the ingester's clock.")
        return None

    def birth(self, topic: str, payload: bytes,
              now_ms: int | None = None) -> SensorBirth | Rejected | None:
        """Return the birth in `payload`, None for a cleared retained topic, or a rejection.

        At `now_ms` a birth gets the readings' time window: the newest birth
        wins, so one stamped far ahead would shadow every later one. Without it
        (a replay of a recorded run) time is not checked.
        """
        if not payload:
            return None
        birth = self._parse(topic, payload, Channel.SENSORS, birth_decoder)
        if isinstance(birth, Rejected):
            return birth
        rejected = _bad_attribute(birth)
        if rejected is None and now_ms is not None:
            rejected = self._outside_window(birth.ts, now_ms)
        return birth if rejected is None else rejected


def _bad_attribute(birth: SensorBirth) -> Rejected | None:
    """Return why one of the birth's attribute names is refused, or None."""
    for name in birth.attributes:
        if name in RESERVED_ATTRIBUTES or name.startswith("_"):
            return Rejected("reserved-attribute", f"Attribute {name[:MAX_ATTRIBUTE_NAME]!r} is "
                            f"reserved: attributes may not be named {_RESERVED_LIST} or "
                            "start with '_'.")
        if not name or len(name) > MAX_ATTRIBUTE_NAME or _CONTROL.search(name):
            return Rejected("schema", f"Attribute name {name[:MAX_ATTRIBUTE_NAME]!r} must be 1 "
                            f"to {MAX_ATTRIBUTE_NAME} characters without control characters.")
    return None
