"""Wire messages of contract v1 as frozen msgspec Structs, with their JSON codecs.

Decoding validates types and shapes; what the catalog and the clock say about a
reading (ranges, timestamp window) is checked by the ingester's decode step.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from urbanpulse.topics import NAME_PATTERN

VERSION: Final = 1
"""The contract version every message carries as `v`."""

Name = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=32_503_680_000_000)]  # up to year 3000
Counter = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Severity = Literal["info", "low", "medium", "high", "critical"]
AlertState = Literal["pending", "firing", "acknowledged", "resolved"]
AttributeValue = str | int | float | bool


class Reading(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One reading of one sensor: `ts` is device time (epoch ms), `seq` a per-sensor counter.

    The three names are plain strings here because the ingester checks them
    against the topic grammar once per sensor, not with a pattern per message.
    """

    v: Literal[1]
    sensor: str
    kind: str
    district: str
    ts: EpochMs
    seq: Counter
    values: Annotated[dict[str, float], msgspec.Meta(min_length=1, max_length=64)]


class SensorBirth(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A sensor's retained birth message: what it is, where, and how often it reports."""

    v: Literal[1]
    sensor: Name
    kind: Name
    district: Name
    site: str
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    zone: str
    interval_s: Annotated[int, msgspec.Meta(gt=0)]
    ts: EpochMs
    attributes: dict[str, AttributeValue] = {}


class Alert(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The state of one alert, identified by the fingerprint of (rule, sensor)."""

    v: Literal[1]
    alert_id: str
    rule: Name
    sensor: Name
    kind: Name
    district: Name
    state: AlertState
    severity: Severity
    ts: EpochMs
    since: EpochMs
    message: str
    value: float | None = None
    acked_by: str | None = None
    note: str | None = None


class AckCommand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An acknowledgement the api sends to the ingester."""

    alert_id: str
    by: str
    note: str = ""


class Rejection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A dead letter: the original topic and payload, and why it was refused."""

    v: Literal[1]
    ts: EpochMs
    topic: str
    reason: Name
    detail: str
    payload: str
    encoding: Literal["utf-8", "base64"]


class Truth(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Ground truth of an injected fault or incident, for scoring alerts."""

    v: Literal[1]
    sensor: Name
    kind: Name
    district: Name
    type: Name
    start: EpochMs
    end: EpochMs | None = None
    detail: dict[str, AttributeValue] = {}


encoder = msgspec.json.Encoder()
"""Shared JSON encoder: compact, deterministic field order."""

reading_decoder = msgspec.json.Decoder(Reading)
birth_decoder = msgspec.json.Decoder(SensorBirth)
alert_decoder = msgspec.json.Decoder(Alert)
ack_decoder = msgspec.json.Decoder(AckCommand)
rejection_decoder = msgspec.json.Decoder(Rejection)
truth_decoder = msgspec.json.Decoder(Truth)
