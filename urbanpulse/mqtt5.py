"""MQTT 5 packets as bytes and values: the one place UrbanPulse encodes and decodes them.

The simulator's publisher, the ingester's framing (`ingest.edge`) and the
doctor's broker probe (`ops.doctor.mqtt`) speak MQTT through these: CONNECT,
PUBLISH, SUBSCRIBE and DISCONNECT out; CONNACK, PUBLISH, PUBACK, SUBACK and
DISCONNECT in. Pure functions over bytes, so they are tested without a socket.
Hot loops (the ingester's framer, the publisher's PUBACK runs) keep their
per-byte work inline and take only the constants from here.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

CONNACK, PUBLISH, PUBACK, SUBACK, DISCONNECT = 2, 3, 4, 9, 14
"""Packet types: the high four bits of a packet's first byte."""
SUCCESS, NO_MATCHING_SUBSCRIBERS = 0x00, 0x10
"""Reason codes that accept: a PUBACK with 0x10 still means the broker took the message."""
BAD_USER_NAME_OR_PASSWORD, NOT_AUTHORIZED = 0x86, 0x87
"""Reason codes of a refused login or publish."""
QOS1_PUBLISH, QOS1_PUBLISH_MASK = 0x32, 0xF6
"""First byte of a QoS 1 PUBLISH, and the bits that say so (DUP and RETAIN masked out)."""
PUBACK_WORD = 0x4002_0000
"""A PUBACK without reason code as one big-endian 32-bit word: or its packet id in."""
DISCONNECT_PACKET = b"\xe0\x00"
"""DISCONNECT, reason Normal disconnection, no properties."""

SESSION_EXPIRY_S = 300
"""How long the broker keeps the session, so a reconnect resends unacknowledged messages."""
RECEIVE_MAXIMUM, SERVER_KEEP_ALIVE, REASON_STRING = 0x21, 0x13, 0x1F
"""Property ids read from a CONNACK."""

_U16 = struct.Struct("!H")

REASONS = {
    0x80: "Unspecified error", 0x81: "Malformed Packet", 0x82: "Protocol Error",
    0x83: "Implementation specific error", 0x84: "Unsupported Protocol Version",
    0x85: "Client Identifier not valid", 0x86: "Bad User Name or Password",
    0x87: "Not authorized", 0x88: "Server unavailable", 0x89: "Server busy", 0x8A: "Banned",
    0x8B: "Server shutting down", 0x8C: "Bad authentication method",
    0x8D: "Keep Alive timeout", 0x8E: "Session taken over", 0x90: "Topic Name invalid",
    0x93: "Receive Maximum exceeded", 0x95: "Packet too large", 0x97: "Quota exceeded",
    0x99: "Payload format invalid", 0x9A: "Retain not supported",
    0x9B: "QoS not supported", 0x9C: "Use another server", 0x9D: "Server moved",
    0x9F: "Connection rate exceeded",
}
"""MQTT 5 reason codes a broker may answer CONNECT, PUBLISH or end a connection with."""

# Property id -> size in bytes (0: variable-length integer, -1: string or binary, -2: pair).
_PROPERTY_SIZES = {
    0x01: 1, 0x17: 1, 0x19: 1, 0x24: 1, 0x25: 1, 0x28: 1, 0x29: 1, 0x2A: 1,
    0x13: 2, 0x21: 2, 0x22: 2, 0x23: 2, 0x02: 4, 0x11: 4, 0x18: 4, 0x27: 4, 0x0B: 0,
    0x03: -1, 0x08: -1, 0x09: -1, 0x12: -1, 0x15: -1, 0x16: -1, 0x1A: -1, 0x1C: -1,
    0x1F: -1, 0x26: -2,
}


def reason(code: int) -> str:
    """Return the name of an MQTT 5 reason code."""
    return REASONS.get(code, f"reason code 0x{code:02X}")


def varint(value: int) -> bytes:
    """Encode an MQTT variable byte integer."""
    out = bytearray()
    while True:
        value, byte = value >> 7, value & 0x7F
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def read_varint(data: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """Return a variable byte integer at `pos` and the position after it, or None if cut short."""
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def properties(data: bytes, pos: int) -> dict[int, int | bytes]:
    """Parse the MQTT 5 properties at `pos`: numbers as int, strings and binaries as bytes."""
    found: dict[int, int | bytes] = {}
    parsed = read_varint(data, pos)
    if parsed is None:
        return found
    length, pos = parsed
    end = pos + length
    while pos < end:
        key, size = data[pos], _PROPERTY_SIZES.get(data[pos])
        pos += 1
        if size is None:  # unknown: nothing after it can be located
            break
        if size > 0:
            found[key] = int.from_bytes(data[pos:pos + size], "big")
            pos += size
        elif size == 0:
            parsed = read_varint(data, pos)
            if parsed is None:
                break
            found[key], pos = parsed
        else:
            for _ in range(-size):
                width = _U16.unpack_from(data, pos)[0]
                found[key] = data[pos + 2:pos + 2 + width]
                pos += 2 + width
    return found


def connect_packet(client_id: str, username: str | None, password: str | None, *,
                   clean_start: bool, keepalive_s: int,
                   session_expiry_s: int = SESSION_EXPIRY_S) -> bytes:
    """Build an MQTT 5 CONNECT with a session expiry and optional credentials."""
    flags = (0x02 if clean_start else 0) | (0x80 if username is not None else 0) | (
        0x40 if password is not None else 0)
    props = b"\x11" + session_expiry_s.to_bytes(4, "big")
    body = [b"\x00\x04MQTT\x05", bytes((flags,)), _U16.pack(keepalive_s),
            varint(len(props)), props]
    for field in (client_id, username, password):
        if field is not None:
            encoded = field.encode("utf-8")
            body += [_U16.pack(len(encoded)), encoded]
    joined = b"".join(body)
    return b"\x10" + varint(len(joined)) + joined


def publish_packet(topic: str, packet_id: int, payload: bytes) -> bytes:
    """Build an MQTT 5 PUBLISH at QoS 1, not retained, without properties."""
    encoded = topic.encode("utf-8")
    body = b"".join((_U16.pack(len(encoded)), encoded, _U16.pack(packet_id), b"\x00", payload))
    return bytes((QOS1_PUBLISH,)) + varint(len(body)) + body


def subscribe_packet(packet_id: int, topic_filter: str, qos: int = 0) -> bytes:
    """Build an MQTT 5 SUBSCRIBE to one filter at `qos`, without properties."""
    encoded = topic_filter.encode("utf-8")
    body = b"".join((_U16.pack(packet_id), b"\x00", _U16.pack(len(encoded)), encoded,
                     bytes((qos,))))
    return b"\x82" + varint(len(body)) + body


class Publish(NamedTuple):
    """A PUBLISH as received: `packet_id` is None at QoS 0."""

    topic: str
    packet_id: int | None
    has_properties: bool
    payload: bytes


def parse_publish(first: int, body: bytes) -> Publish:
    """Split the body of a PUBLISH (first byte `first`) into topic, packet id and payload."""
    end = 2 + _U16.unpack_from(body)[0]
    topic, pos = body[2:end].decode("utf-8", "replace"), end
    packet_id = None
    if (first >> 1) & 0x03:  # QoS 1 or 2 carry a packet id
        packet_id, pos = _U16.unpack_from(body, pos)[0], pos + 2
    length, start = read_varint(body, pos) or (0, pos)
    return Publish(topic, packet_id, length > 0, body[start + length:])


def parse_puback(body: bytes) -> tuple[int, int]:
    """Return the packet id and reason code of a PUBACK body (no code: success)."""
    return _U16.unpack_from(body)[0], body[2] if len(body) > 2 else SUCCESS


class Connack(NamedTuple):
    """What the broker answered a CONNECT with."""

    code: int
    session_present: bool
    receive_maximum: int
    keepalive_s: int | None
    reason_string: str


def parse_connack(body: bytes) -> Connack:
    """Read a CONNACK body: reason code, session present, and the properties we use."""
    found = properties(body, 2) if len(body) > 2 else {}
    keepalive = found.get(SERVER_KEEP_ALIVE)
    text = found.get(REASON_STRING, b"")
    return Connack(code=body[1], session_present=bool(body[0] & 1),
                   receive_maximum=int(found.get(RECEIVE_MAXIMUM, 65535)),
                   keepalive_s=keepalive if isinstance(keepalive, int) else None,
                   reason_string=text.decode("utf-8", "replace") if isinstance(text, bytes) else "")


def disconnect_reason(body: bytes) -> str:
    """Return why a broker's DISCONNECT ends the connection."""
    return reason(body[0]) if body else "Normal disconnection"
