"""What a sensor message must be to be taken: the ingester's checks, shared with the api.

The ingester refuses a message (`ingest.decode.Decoder`, which turns a `Refusal`
into its `Rejected` and a dead letter) and the api ignores a retained birth
(`api.live.LiveState`) by the same rules, written here once: the payload's size,
the topic grammar, the schema, the topic agreeing with the payload, a registered
kind, the names of a birth's attributes, and the time window around the clock.
The limits' defaults are the ingester's (`IngestSettings` refers to them); the api,
which cannot know the ingester's settings, checks births against the defaults.

Every `Refusal` carries one of the ingester's rejection reasons (`ingest.decode.REASONS`)
and a sentence of detail. Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, TypeVar

import msgspec

from urbanpulse.errors import TopicError
from urbanpulse.kinds import KINDS
from urbanpulse.messages import Reading, SensorBirth, birth_decoder
from urbanpulse.topics import NAME, Channel, check_name, sensor_topic_shape, split_sensor_topic

SENSORS_MEASUREMENT: Final = "sensors"
"""The InfluxDB measurement of births: one point per birth."""
BIRTH_TAGS: Final = ("sensor", "kind", "district")
"""The tags of a `sensors` point."""
BIRTH_FIELDS: Final = ("lat", "lon", "site", "zone", "interval_s")
"""The fields every `sensors` point has, besides one per attribute."""
RESERVED_ATTRIBUTES: Final = frozenset({*BIRTH_TAGS, *BIRTH_FIELDS, "time"})
"""Names a birth attribute may not have: the `sensors` tags, the birth's own fields, `time`.

An attribute so named would put a field beside the tag or field the api reads
by that name (InfluxDB then renames one of them in its answers). Such a birth
is refused as `reserved-attribute`, and so are names starting with `_`, which
InfluxDB keeps for itself.
"""
MAX_ATTRIBUTE_NAME: Final = 64
"""Longest attribute name, in characters."""

MAX_PAYLOAD_BYTES: Final = 16_384
"""Largest payload taken, by default (`URBANPULSE_INGEST_MAX_PAYLOAD_BYTES`)."""
MAX_FUTURE_S: Final = 300
"""How far ahead of the clock a device's time may be, by default (clock skew)."""
MAX_AGE_S: Final = 31 * 86_400
"""How far behind the clock a device's time may be, by default."""

_RESERVED_LIST: Final = ", ".join(sorted(RESERVED_ATTRIBUTES))
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")

M = TypeVar("M", Reading, SensorBirth)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a message is not taken: one of the ingester's rejection reasons and a sentence."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds a message is checked against (the ingester's defaults unless given)."""

    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    max_future_ms: int = MAX_FUTURE_S * 1000
    max_age_ms: int = MAX_AGE_S * 1000


DEFAULT_LIMITS: Final = Limits()


def decode_error(exc: msgspec.DecodeError, payload: bytes) -> Refusal:
    """Return why `payload` failed to decode: not finite, the wrong shape, or no JSON."""
    if isinstance(exc, msgspec.ValidationError):
        if str(exc).startswith("Number out of range"):  # a float literal overflowing to inf
            return Refusal("non-finite", f"A number is not finite: {exc}.")
        return Refusal("schema", f"Payload does not match the schema: {exc}.")
    if b"NaN" in payload or b"Infinity" in payload:
        return Refusal("non-finite", "NaN or Infinity is not a JSON number.")
    return Refusal("malformed-json", f"Payload is not valid JSON: {exc}.")


def parse(topic: str, payload: bytes, channel: Channel, decoder: msgspec.json.Decoder[M], *,
          root: str, max_payload_bytes: int) -> M | Refusal:
    """Check size and topic, decode, and check the topic agrees with the payload."""
    if len(payload) > max_payload_bytes:
        return Refusal("oversize", f"Payload of {len(payload)} bytes exceeds the limit of "
                       f"{max_payload_bytes}.")
    names = split_sensor_topic(topic, channel, root=root)
    if names is None:
        return Refusal("bad-topic", f"Topic {topic!r} is not "
                       f"{sensor_topic_shape(channel, root=root)}.")
    try:
        message = decoder.decode(payload)
    except msgspec.DecodeError as exc:
        return decode_error(exc, payload)
    if (message.district, message.kind, message.sensor) != names:
        return Refusal("topic-mismatch", f"Payload names district {message.district!r}, "
                       f"kind {message.kind!r} and sensor {message.sensor!r} but the "
                       f"topic {topic!r} does not.")
    if message.kind not in KINDS:
        return Refusal("unknown-kind", f"Kind {message.kind!r} is not in the catalog.")
    if NAME.match(message.district) is None or NAME.match(message.sensor) is None:
        try:  # one of them raises, saying why
            check_name(message.district, what="district")
            check_name(message.sensor, what="sensor id")
        except TopicError as exc:
            return Refusal("bad-topic", str(exc))
    return message


def outside_window(ts: int, now_ms: int, limits: Limits) -> Refusal | None:
    """Return why device time `ts` is refused at `now_ms`, or None when it is in the window."""
    if ts > now_ms + limits.max_future_ms:
        return Refusal("future-timestamp", f"ts {ts} is {ts - now_ms} ms "
                       "ahead of the ingester's clock.")
    if ts < now_ms - limits.max_age_ms:
        return Refusal("stale-timestamp", f"ts {ts} is {now_ms - ts} ms "
                       "behind the ingester's clock.")
    return None


def bad_attribute(birth: SensorBirth) -> Refusal | None:
    """Return why one of the birth's attribute names is refused, or None."""
    for name in birth.attributes:
        if name in RESERVED_ATTRIBUTES or name.startswith("_"):
            return Refusal("reserved-attribute", f"Attribute {name[:MAX_ATTRIBUTE_NAME]!r} is "
                           f"reserved: attributes may not be named {_RESERVED_LIST} or "
                           "start with '_'.")
        if not name or len(name) > MAX_ATTRIBUTE_NAME or _CONTROL.search(name):
            return Refusal("schema", f"Attribute name {name[:MAX_ATTRIBUTE_NAME]!r} must be 1 "
                           f"to {MAX_ATTRIBUTE_NAME} characters without control characters.")
    return None


def check_birth(topic: str, payload: bytes, *, root: str, now_ms: int | None,
                limits: Limits = DEFAULT_LIMITS) -> SensorBirth | Refusal:
    """Return the birth in `payload` on `topic` (not empty), or why it is refused.

    At `now_ms` a birth gets the readings' time window: the newest birth wins, so
    one stamped far ahead would shadow every later one. Without it (a replay of a
    recorded run) time is not checked.
    """
    birth = parse(topic, payload, Channel.SENSORS, birth_decoder, root=root,
                  max_payload_bytes=limits.max_payload_bytes)
    if isinstance(birth, Refusal):
        return birth
    refused = bad_attribute(birth)
    if refused is None and now_ms is not None:
        refused = outside_window(birth.ts, now_ms, limits)
    return birth if refused is None else refused
