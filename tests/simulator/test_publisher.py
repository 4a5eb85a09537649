"""The publish-only MQTT 5 client against a scripted broker: windows, refusals, reconnects.

The happy path runs against a real mosquitto in test_sinks.py; the broker here
exists to inject what mosquitto will not do on demand.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from simulator.errors import SinkError
from simulator.publisher import BACKOFF_CAP_S, BACKOFF_FIRST_S, Publisher
from urbanpulse.mqtt5 import connect_packet, properties, varint


@dataclass
class Script:
    """How the scripted broker behaves, and what it saw."""

    connack: bytes = bytes([0x20, 0x03, 0x00, 0x00, 0x00])
    puback_reason: int | None = None
    """Reason code to add to every PUBACK (None: the plain 2-byte form)."""
    drop_after: int | None = None
    """Close the first connection, unacknowledged, on this PUBLISH."""
    connects: list[bytes] = field(default_factory=list)
    publishes: list[tuple[int, int, str, bytes]] = field(default_factory=list)
    """First byte, packet id, topic and payload of every PUBLISH."""


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first = (await reader.readexactly(1))[0]
    length = shift = 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return first, await reader.readexactly(length)


@pytest.fixture
async def broker() -> AsyncIterator[tuple[Script, int]]:
    """A broker that follows a `Script`; yields the script and the port."""
    script = Script()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first, body = await _read_packet(reader)
            assert first == 0x10
            script.connects.append(body)
            if not script.connack:
                return
            writer.write(script.connack)
            while True:
                first, body = await _read_packet(reader)
                if first & 0xF0 != 0x30:
                    continue
                size = struct.unpack_from("!H", body)[0]
                mid = struct.unpack_from("!H", body, 2 + size)[0]
                script.publishes.append((first, mid, body[2:2 + size].decode(), body[5 + size:]))
                if script.drop_after == len(script.publishes) and len(script.connects) == 1:
                    return
                reason = b"" if script.puback_reason is None else bytes([script.puback_reason])
                writer.write(bytes([0x40, 2 + len(reason)]) + struct.pack("!H", mid) + reason)
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield script, server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def connected(port: int, max_inflight: int = 100) -> Publisher:
    publisher = Publisher("127.0.0.1", port, client_id="sim-test", max_inflight=max_inflight)
    await publisher.connect(5.0)
    return publisher


async def test_the_window_is_the_broker_receive_maximum(broker: tuple[Script, int]) -> None:
    script, port = broker
    script.connack = bytes([0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x03])
    publisher = await connected(port)
    assert publisher.window == 3
    messages = [(f"t/{n}", b"x" * n) for n in range(10)]
    assert publisher.publish(messages, 0, False) == 3  # the rest waits for room
    await publisher.drain()
    assert publisher.publish(messages, 3, False) == 6
    await publisher.drain()
    await publisher.close()
    assert [(topic, payload) for _, _, topic, payload in script.publishes] == messages[:6]
    assert publisher.peak == 3


async def test_packets_are_well_formed_for_every_length(broker: tuple[Script, int]) -> None:
    script, port = broker
    script.puback_reason = 0x10  # "no matching subscribers" is a success
    publisher = await connected(port, max_inflight=10)
    messages = [("a/b", b""), ("a/é", b"x" * 120), ("c", b"y" * 20_000)]
    publisher.publish(messages, 0, True)
    await publisher.drain()
    await publisher.close()
    assert [(first, topic, payload) for first, _, topic, payload in script.publishes] == [
        (0x33, topic, payload) for topic, payload in messages]
    assert [mid for _, mid, _, _ in script.publishes] == [1, 2, 3]


async def test_refused_messages_are_reported_on_drain(broker: tuple[Script, int]) -> None:
    script, port = broker
    script.puback_reason = 0x87
    publisher = await connected(port)
    publisher.publish([("t/1", b"{}"), ("t/2", b"{}")], 0, False)
    with pytest.raises(SinkError, match=r"refused messages: 2 with Not authorized\.$"):
        await publisher.drain()
    assert publisher.inflight == 0
    await publisher.close()


async def test_a_dropped_connection_resumes_and_resends_with_dup(
        broker: tuple[Script, int]) -> None:
    script, port = broker
    script.drop_after = 3
    publisher = await connected(port, max_inflight=5)
    messages = [(f"t/{n}", str(n).encode()) for n in range(5)]
    publisher.publish(messages, 0, False)
    await asyncio.wait_for(publisher.drain(), 10)
    await publisher.close()
    assert len(script.connects) == 2
    assert script.connects[0][7] & 0x02
    assert not script.connects[1][7] & 0x02
    acked, resent = script.publishes[:2], script.publishes[3:]  # the 3rd was dropped
    assert [(mid, topic) for _, mid, topic, _ in acked] == [(1, "t/0"), (2, "t/1")]
    assert [(mid, topic) for _, mid, topic, _ in resent] == [(3, "t/2"), (4, "t/3"), (5, "t/4")]
    assert all(first == 0x32 | 0x08 for first, _, _, _ in resent)
    assert publisher.peak == 5
    assert publisher.inflight == 0


async def test_a_broker_closing_before_connack_is_a_clear_error(
        broker: tuple[Script, int]) -> None:
    script, port = broker
    script.connack = b""
    with pytest.raises(SinkError, match=rf"^The MQTT broker at 127\.0\.0\.1:{port} did not "
                                        r"accept the connection: it closed the connection"):
        await connected(port)


def test_connect_packet_carries_credentials_and_session_expiry() -> None:
    packet = connect_packet("sim", "user", "secret", clean_start=True, keepalive_s=60)
    assert packet[0] == 0x10
    assert packet[1] == len(packet) - 2
    body = packet[2:]
    assert body[:7] == b"\x00\x04MQTT\x05"
    assert body[7] == 0x80 | 0x40 | 0x02
    assert properties(body, 10) == {0x11: 300}
    assert body.endswith(b"\x00\x03sim\x00\x04user\x00\x06secret")


@pytest.mark.parametrize("value", [0, 127, 128, 16_383, 16_384, 268_435_455])
def test_varint_round_trips(value: int) -> None:
    encoded = varint(value)
    assert len(encoded) == 1 + (value > 127) + (value > 16_383) + (value > 2_097_151)
    length = sum((byte & 0x7F) << (7 * i) for i, byte in enumerate(encoded))
    assert length == value


async def test_reconnect_delays_double_with_jitter_up_to_the_cap() -> None:
    publisher = Publisher("127.0.0.1", 1, client_id="sim")
    delays = [publisher._backoff() for _ in range(12)]
    for attempt, delay in enumerate(delays):
        ceiling = min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2 ** attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert delays[-1] > BACKOFF_CAP_S / 2
    assert len(set(delays)) == len(delays)  # jittered: two simulators do not retry in step
