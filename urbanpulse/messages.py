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
AlertId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$")]
Signature = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
Nonce = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
ACK_BY_MAX: Final = 100
ACK_NOTE_MAX: Final = 1000
_FORMATTING: Final = r"\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"  # DEL, C1, bidi
ACK_BY_PATTERN: Final = rf"^(?=.*\S)[^\x00-\x1f{_FORMATTING}]*\Z"
"""Who acknowledges: not blank, no control characters (C0, DEL, C1) or bidi overrides."""
ACK_NOTE_PATTERN: Final = rf"^[^\x00-\x08\x0b-\x1f{_FORMATTING}]*\Z"
"""A note: like `by`, but it may be empty and hold tabs and line feeds."""
AckBy = Annotated[str, msgspec.Meta(min_length=1, max_length=ACK_BY_MAX, pattern=ACK_BY_PATTERN)]
AckNote = Annotated[str, msgspec.Meta(max_length=ACK_NOTE_MAX, pattern=ACK_NOTE_PATTERN)]


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
    site: Annotated[str, msgspec.Meta(max_length=256)]
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    zone: Annotated[str, msgspec.Meta(max_length=64)]
    interval_s: Annotated[int, msgspec.Meta(gt=0)]
    ts: EpochMs
    # Bounded: each attribute is a field of every later birth query.
    attributes: Annotated[
        dict[str, Annotated[str, msgspec.Meta(max_length=256)] | int | float | bool],
        msgspec.Meta(max_length=64)] = {}


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
    sig: Signature | None = None
    """HMAC-SHA256 of the state without `sig`, by the ingester (`urbanpulse.signing`)."""


NotificationReason = Literal["firing", "update", "resolved", "repeat", "flapping", "settled"]
"""Why a group's notification went out (docs/alerts.md, "Notifications")."""


class InhibitedBy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What mutes an alert: an inhibit rule, and the active alert that matched it as source."""

    inhibit_rule: Name
    alert_id: AlertId
    rule: Name
    sensor: Name


class NotifiedAlert(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One alert of a notification's group, as its latest state says, with what holds it back."""

    alert_id: AlertId
    sensor: Name
    kind: Name
    state: AlertState
    since: EpochMs
    ts: EpochMs
    message: str
    value: float | None = None
    flapping: bool = False
    inhibited_by: InhibitedBy | None = None


class MutedAlert(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An alert of another group that an alert of this one mutes: the outage explains it."""

    alert_id: AlertId
    rule: Name
    sensor: Name
    state: AlertState
    by: AlertId
    """The alert of this group that mutes it."""
    inhibit_rule: Name


class NotificationCounts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How many alerts of the group page (`firing`, acknowledged ones included) and how many not."""

    firing: Counter
    acknowledged: Counter
    resolved: Counter
    inhibited: Counter
    flapping: Counter


class Notification(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One page: the alerts of one (district, rule) group, from its first firing to its resolve.

    `group_id` names the group's window (district, rule and `opened`, the time of
    its first firing); `seq` counts the group's notifications from 1; `ts` is
    when this one went out (the ingester's clock, epoch ms).
    """

    v: Literal[1]
    group_id: AlertId
    district: Name
    rule: Name
    kind: Name
    severity: Severity
    reason: NotificationReason
    opened: EpochMs
    ts: EpochMs
    seq: Counter
    counts: NotificationCounts
    alerts: list[NotifiedAlert]
    muted: list[MutedAlert] = []
    """The active alerts of other groups that this group's alerts mute now (the outage's toll)."""
    sig: Signature | None = None
    """HMAC-SHA256 of the notification without `sig`, by the ingester (`urbanpulse.signing`)."""


class AckCommand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An acknowledgement the api sends to the ingester, signed against forgery and replay.

    `ts` (the api's clock), `nonce` and `sig` are optional in the schema so that
    an unsigned command is refused as unauthenticated, not as malformed.
    """

    alert_id: AlertId
    by: AckBy
    note: AckNote = ""
    ts: EpochMs | None = None
    nonce: Nonce | None = None
    sig: Signature | None = None


IncidentStage = Literal["accepted", "dispatched", "handling", "closed"]
"""受理 → 分派 → 处置 → 结案 (`urbanpulse.incidents`: which moves are legal)."""
IncidentChange = Literal["opened", "alert", "resolved", "located", "transition", "overrun"]
"""What one incident state change was: opened by its first alert, an alert joined, one
resolved, its street found, an operator's transition, its stage past its time limit."""
IncidentId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$")]
INCIDENT_ALERTS_MAX: Final = 200
"""Alert episodes an incident lists at most (the active ones first); `alerts_total` counts all."""


class IncidentAlert(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One alert episode an incident holds: the alert, when it began, fired and resolved."""

    alert_id: AlertId
    rule: Name
    sensor: Name
    kind: Name
    severity: Severity
    since: EpochMs
    fired: EpochMs
    resolved: EpochMs | None = None


class Incident(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The state of one incident (事件): related alerts of one district and one department.

    The ingester publishes it retained on `{root}/incidents/{district}/{incident_id}`
    while the incident is open (docs/incidents.md). `category` is the code of the
    department it is dispatched to (`department` its name); `street` the site
    (街镇) of the sensor whose alert opened it ("" for a district-wide alert);
    `cause` that alert's rule, sensor and message. `stage_since` is when the
    current stage began and `due` when it overruns (None once closed); `by` and
    `note` are the operator's on a transition. Times are the ingester's clock.
    """

    v: Literal[1]
    incident_id: IncidentId
    district: Name
    street: Annotated[str, msgspec.Meta(max_length=256)]
    category: Name
    department: Annotated[str, msgspec.Meta(max_length=256)]
    cause: Annotated[str, msgspec.Meta(max_length=1024)]
    severity: Severity
    stage: IncidentStage
    opened: EpochMs
    ts: EpochMs
    stage_since: EpochMs
    due: EpochMs | None
    overrun: bool
    change: IncidentChange
    alerts: Annotated[list[IncidentAlert], msgspec.Meta(max_length=INCIDENT_ALERTS_MAX)] = []
    alerts_total: Counter = 0
    active_alerts: Counter = 0
    resolved_at: EpochMs | None = None
    """When its last active alert resolved; None while one is active."""
    by: AckBy | None = None
    note: AckNote | None = None
    sig: Signature | None = None
    """HMAC-SHA256 of the state without `sig`, by the ingester (`urbanpulse.signing`)."""


class TransitionCommand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An operator's move of an incident to another stage, from the api, signed like an ack."""

    incident_id: IncidentId
    to: IncidentStage
    by: AckBy
    note: AckNote = ""
    ts: EpochMs | None = None
    nonce: Nonce | None = None
    sig: Signature | None = None


class Rejection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A dead letter: the original topic, an excerpt of the payload, and why it was refused.

    `payload` holds at most the first 256 bytes of the original (as text, or
    base64 when they are not UTF-8); `size` and `sha256` describe the whole
    original, so a dead letter stays small whatever was sent. `topic` and
    `detail` are cut to a bound too (`truncated` says whether anything was cut).
    """

    v: Literal[1]
    ts: EpochMs
    topic: str
    reason: Name
    detail: str
    payload: str
    encoding: Literal["utf-8", "base64"]
    size: Annotated[int, msgspec.Meta(ge=0)]
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    truncated: bool


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


class SensorState(msgspec.Struct, frozen=True, array_like=True):
    """One sensor's last accepted reading: device time and its values, derived fields included.

    Encoded as an array (`[ts, seq, {values}]`): a district state carries thousands.
    """

    ts: EpochMs
    seq: Counter
    values: dict[str, AttributeValue]


class DistrictState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The latest state of every sensor of one district, as the ingester accepted it.

    The ingester publishes it retained on `{root}/state/{district}` every few seconds
    when something changed, so that a reader starts from the retained message and
    follows the city without querying InfluxDB. `sensors` is keyed by kind, then by
    sensor id; `ts` is when the ingester built the message (epoch ms).
    """

    v: Literal[1]
    district: Name
    ts: EpochMs
    sensors: dict[str, dict[str, SensorState]]
    sig: Signature | None = None
    """HMAC-SHA256 of the state without `sig`, by the ingester (`urbanpulse.signing`)."""


encoder = msgspec.json.Encoder()
"""Shared JSON encoder: compact, deterministic field order."""

reading_decoder = msgspec.json.Decoder(Reading)
birth_decoder = msgspec.json.Decoder(SensorBirth)
alert_decoder = msgspec.json.Decoder(Alert)
notification_decoder = msgspec.json.Decoder(Notification)
ack_decoder = msgspec.json.Decoder(AckCommand)
rejection_decoder = msgspec.json.Decoder(Rejection)
truth_decoder = msgspec.json.Decoder(Truth)
district_state_decoder = msgspec.json.Decoder(DistrictState)
incident_decoder = msgspec.json.Decoder(Incident)
transition_decoder = msgspec.json.Decoder(TransitionCommand)
