"""MQTT 5 packet pieces for our own small clients: CONNECT, PUBLISH, CONNACK, reason codes.

The simulator's publisher and the doctor's broker probe speak MQTT through
these. Pure functions over bytes, so they are tested without a socket.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

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
    return b"\x32" + varint(len(body)) + body


class Connack(NamedTuple):
    """What the broker answered a CONNECT with."""

    code: int
    session_present: bool
    receive_maximum: int
    keepalive_s: int | None
    reason_string: str
