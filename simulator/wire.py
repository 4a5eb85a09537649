"""One TCP connection of the publisher: the broker's bytes split into packets.

PUBACKs are the bulk of what a publisher reads, so a read made only of PUBACKs
of one shape (with or without a reason code) is unpacked in one `iter_unpack`;
anything else goes through the general packet loop.
"""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING

from urbanpulse.mqtt5 import (
    CONNACK,
    DISCONNECT,
    PUBACK,
    Connack,
    disconnect_reason,
    parse_connack,
    parse_puback,
    read_varint,
)

if TYPE_CHECKING:
    from simulator.publisher import Publisher

_PUBACK_FIRST = PUBACK << 4
_PUBACK_FIRST_BYTE = bytes((_PUBACK_FIRST,))
_PUBACK = struct.Struct("!BBH")
_PUBACK_REASON = struct.Struct("!BBHB")


class ClosedEarlyError(Exception):
    """The broker closed the connection before answering CONNECT."""


class Wire(asyncio.Protocol):
    """One TCP connection: splits the broker's bytes into packets for its `Publisher`."""

    def __init__(self, owner: Publisher) -> None:
        loop = asyncio.get_running_loop()
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.connack: asyncio.Future[Connack] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.heard = loop.time()
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.heard = self.owner.loop.time()
        buffer = self._buffer
        # A run of PUBACKs of one shape (the usual case):
        if not buffer and data[:1] == _PUBACK_FIRST_BYTE:
            if data[1:2] == b"\x03":
                whole = len(data) - len(data) % 5
                acked = [mid for first, length, mid, code in _PUBACK_REASON.iter_unpack(
                    data[:whole]) if first == _PUBACK_FIRST and length == 3 and code < 0x80]
                count = whole // 5
            else:
                whole = len(data) - len(data) % 4
                acked = [mid for first, length, mid in _PUBACK.iter_unpack(data[:whole])
                         if first == _PUBACK_FIRST and length == 2]
                count = whole // 4
            if len(acked) == count:
                self.owner.acknowledged(acked)
                if whole == len(data):
                    return
                data = data[whole:]
            # another packet or a refusal in the run: parse it all the slow way
        buffer += data
        acked = []
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first = buffer[pos]
            if first == _PUBACK_FIRST and size - pos >= 5:  # PUBACK, with or without a reason code
                length = buffer[pos + 1]
                if length == 2 or (length == 3 and buffer[pos + 4] < 0x80):
                    acked.append((buffer[pos + 2] << 8) | buffer[pos + 3])
                    pos += 2 + length
                    continue
            parsed = read_varint(buffer, pos + 1)
            if parsed is None or parsed[1] + parsed[0] > size:
                break
            length, start = parsed
            pos = start + length
            self._packet(first, bytes(buffer[start:pos]), acked)
        del buffer[:pos]
        if acked:
            self.owner.acknowledged(acked)

    def _packet(self, first: int, body: bytes, acked: list[int]) -> None:
        kind = first >> 4
        if kind == PUBACK and len(body) >= 2:  # PUBACK with a reason code
            mid, code = parse_puback(body)
            acked.append(mid)
            if code >= 0x80:
                self.owner.rejected(code)
        elif kind == CONNACK and len(body) >= 2 and not self.connack.done():
            self.connack.set_result(parse_connack(body))
        elif kind == DISCONNECT:  # the broker ends the connection
            self.owner.disconnect_reason = disconnect_reason(body)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connack.done():
            self.connack.set_exception(ClosedEarlyError(
                f"it closed the connection ({self.owner.disconnect_reason or exc or 'no reason'})"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.owner.lost(self)
