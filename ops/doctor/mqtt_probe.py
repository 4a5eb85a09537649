"""The doctor's own MQTT 5 connection: CONNECT, PUBLISH at QoS 1, SUBSCRIBE, DISCONNECT.

The services' MQTT client (gmqtt) hides the CONNACK and PUBACK reason codes and
reconnects on its own. The doctor needs exactly those codes, once, to tell a
wrong password from an ACL refusal, so it speaks the few packets itself, each
encoded and decoded by `urbanpulse.mqtt5` like the simulator's and the
ingester's.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from urbanpulse.mqtt5 import (
    CONNACK,
    DISCONNECT_PACKET,
    PUBACK,
    PUBLISH,
    SUBACK,
    connect_packet,
    parse_connack,
    parse_puback,
    parse_publish,
    publish_packet,
    read_varint,
    subscribe_packet,
)

RETAINED_QUIET_S = 0.3
"""The broker sends retained messages right after the SUBACK: this long a silence ends them."""


class ProtocolError(Exception):
    """The broker answered with something this client did not ask for."""


class MqttProbe:
    """One MQTT 5 connection with a clean start, kept only for a few packets."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._next_id = 1

    @classmethod
    async def open(cls, host: str, port: int) -> MqttProbe:
        """Open the TCP connection (OSError when nothing listens)."""
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def _read_packet(self) -> tuple[int, bytes]:
        """Return the first byte (type and flags) and the rest of the next packet."""
        first = (await self._reader.readexactly(1))[0]
        header = b""
        while not header or header[-1] & 0x80:  # the remaining length, a variable byte integer
            header += await self._reader.readexactly(1)
        length, _ = read_varint(header, 0) or (0, 0)
        return first, await self._reader.readexactly(length)

    async def _read(self) -> tuple[int, bytes]:
        first, body = await self._read_packet()
        return first >> 4, body

    async def login(self, username: str | None, password: str | None) -> int:
        """Send CONNECT and return the CONNACK reason code (0: logged in)."""
        self._writer.write(connect_packet(
            f"urbanpulse-doctor-{uuid.uuid4().hex[:12]}", username, password or None,
            clean_start=True, keepalive_s=10, session_expiry_s=0))
        await self._writer.drain()
        kind, answer = await self._read()
        if kind != CONNACK or len(answer) < 2:
            raise ProtocolError(f"expected CONNACK, got packet type {kind}")
        return parse_connack(answer).code

    async def publish(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1 (not retained) and return the PUBACK reason code."""
        packet_id, self._next_id = self._next_id, self._next_id + 1
        self._writer.write(publish_packet(topic, packet_id, payload))
        await self._writer.drain()
        while True:
            kind, answer = await self._read()
            if kind == PUBACK:
                acked, code = parse_puback(answer)
                if acked == packet_id:
                    return code

    async def retained(self, topic_filter: str) -> dict[str, bytes]:
        """Subscribe at QoS 0 and return the retained messages: topic -> payload.

        Returns an empty dict when the broker refuses the subscription (the ACL).
        """
        packet_id, self._next_id = self._next_id, self._next_id + 1
        self._writer.write(subscribe_packet(packet_id, topic_filter, qos=0))
        await self._writer.drain()
        kind, answer = await self._read()
        while kind != SUBACK:
            kind, answer = await self._read()
        granted = answer[-1] if answer else 0x80
        found: dict[str, bytes] = {}
        if granted >= 0x80:
            return found
        while True:
            try:
                async with asyncio.timeout(RETAINED_QUIET_S):
                    first, packet = await self._read_packet()
            except TimeoutError:
                return found
            if first >> 4 == PUBLISH:
                publish = parse_publish(first, packet)
                found[publish.topic] = publish.payload

    async def close(self) -> None:
        """Send DISCONNECT (when still possible) and close the socket."""
        with contextlib.suppress(OSError, RuntimeError):
            self._writer.write(DISCONNECT_PACKET)
            await self._writer.drain()
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
