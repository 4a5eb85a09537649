"""HMAC-SHA256 signatures of alert states and ack commands, with the key ingest and api share.

The ingester signs every alert state it publishes, and the api every ack
command it sends; each side drops what the other did not sign. Anyone with
publish rights on the broker can write on `city/alerts/…` or
`city/commands/alerts/…`, but only a holder of `URBANPULSE_ALERT_KEY` can sign.

A signature covers the message's JSON without its `sig` field, as the shared
encoder writes it (deterministic field order), behind a label naming the
message type, so that no signature of one type is valid for the other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

import msgspec

from urbanpulse.messages import (
    AckCommand,
    Alert,
    DistrictState,
    Incident,
    Notification,
    TransitionCommand,
    encoder,
)

_ALERT_LABEL: Final = b"urbanpulse alert v1\n"
_ACK_LABEL: Final = b"urbanpulse ack v1\n"
_STATE_LABEL: Final = b"urbanpulse district state v1\n"
_NOTIFICATION_LABEL: Final = b"urbanpulse notification v1\n"
_INCIDENT_LABEL: Final = b"urbanpulse incident v1\n"
_TRANSITION_LABEL: Final = b"urbanpulse incident transition v1\n"


def _digest(key: bytes, label: bytes,
            unsigned: Alert | AckCommand | DistrictState | Notification) -> str:
    return hmac.new(key, label + encoder.encode(unsigned), hashlib.sha256).hexdigest()


def sign_alert(alert: Alert, key: bytes) -> Alert:
    """Return `alert` carrying its signature."""
    unsigned = msgspec.structs.replace(alert, sig=None)
    return msgspec.structs.replace(alert, sig=_digest(key, _ALERT_LABEL, unsigned))


def is_signed_alert(alert: Alert, key: bytes) -> bool:
    """Tell whether `alert` carries a valid signature made with `key`."""
    if alert.sig is None:
        return False
    expected = _digest(key, _ALERT_LABEL, msgspec.structs.replace(alert, sig=None))
    return hmac.compare_digest(alert.sig, expected)


def signed_ack(alert_id: str, by: str, note: str, *, key: bytes, now_ms: int) -> AckCommand:
    """Return an ack command stamped with `now_ms` and a fresh nonce, signed with `key`."""
    command = AckCommand(alert_id=alert_id, by=by, note=note, ts=now_ms,
                         nonce=secrets.token_hex(16))
    return msgspec.structs.replace(command, sig=_digest(key, _ACK_LABEL, command))


def is_signed_ack(command: AckCommand, key: bytes) -> bool:
    """Tell whether `command` carries a valid signature made with `key`."""
    if command.sig is None:
        return False
    expected = _digest(key, _ACK_LABEL, msgspec.structs.replace(command, sig=None))
    return hmac.compare_digest(command.sig, expected)


def sign_state(state: DistrictState, key: bytes) -> DistrictState:
    """Return `state` carrying its signature."""
    unsigned = msgspec.structs.replace(state, sig=None)
    return msgspec.structs.replace(state, sig=_digest(key, _STATE_LABEL, unsigned))


def is_signed_state(state: DistrictState, key: bytes) -> bool:
    """Tell whether `state` carries a valid signature made with `key`."""
    if state.sig is None:
        return False
    expected = _digest(key, _STATE_LABEL, msgspec.structs.replace(state, sig=None))
    return hmac.compare_digest(state.sig, expected)


def sign_notification(notification: Notification, key: bytes) -> Notification:
    """Return `notification` carrying its signature."""
    unsigned = msgspec.structs.replace(notification, sig=None)
    return msgspec.structs.replace(notification,
                                   sig=_digest(key, _NOTIFICATION_LABEL, unsigned))


def is_signed_notification(notification: Notification, key: bytes) -> bool:
    """Tell whether `notification` carries a valid signature made with `key`."""
    if notification.sig is None:
        return False
    expected = _digest(key, _NOTIFICATION_LABEL, msgspec.structs.replace(notification, sig=None))
    return hmac.compare_digest(notification.sig, expected)


def _incident_digest(key: bytes, label: bytes, unsigned: Incident | TransitionCommand) -> str:
    return hmac.new(key, label + encoder.encode(unsigned), hashlib.sha256).hexdigest()


def sign_incident(incident: Incident, key: bytes) -> Incident:
    """Return `incident` carrying its signature."""
    unsigned = msgspec.structs.replace(incident, sig=None)
    return msgspec.structs.replace(incident,
                                   sig=_incident_digest(key, _INCIDENT_LABEL, unsigned))


def is_signed_incident(incident: Incident, key: bytes) -> bool:
    """Tell whether `incident` carries a valid signature made with `key`."""
    if incident.sig is None:
        return False
    expected = _incident_digest(key, _INCIDENT_LABEL,
                                msgspec.structs.replace(incident, sig=None))
    return hmac.compare_digest(incident.sig, expected)


def signed_transition(incident_id: str, to: str, by: str, note: str, *, key: bytes,
                      now_ms: int) -> TransitionCommand:
    """Return a transition command stamped with `now_ms` and a fresh nonce, signed with `key`."""
    command = msgspec.convert({"incident_id": incident_id, "to": to, "by": by, "note": note,
                               "ts": now_ms, "nonce": secrets.token_hex(16)},
                              TransitionCommand)
    return msgspec.structs.replace(
        command, sig=_incident_digest(key, _TRANSITION_LABEL, command))


def is_signed_transition(command: TransitionCommand, key: bytes) -> bool:
    """Tell whether `command` carries a valid signature made with `key`."""
    if command.sig is None:
        return False
    expected = _incident_digest(key, _TRANSITION_LABEL,
                                msgspec.structs.replace(command, sig=None))
    return hmac.compare_digest(command.sig, expected)
