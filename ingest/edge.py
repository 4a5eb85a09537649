"""Acknowledge-after-write on gmqtt, one socket write per batch of PUBACKs.

With `optimistic_acknowledgement=False`, gmqtt acknowledges a QoS 1 message
when an `on_message` coroutine returns: one asyncio Task, its callbacks and
one socket write per message. Profiling the ingester showed that machinery
costing more CPU than validating and encoding the reading. This module instead
hands each QoS 1 message to a synchronous callback with an acknowledgement
token and writes the PUBACKs of a whole batch at once.

It is the only module that reaches into gmqtt (0.7, 0.8). On one client
instance it replaces each new connection's packet framing (`MQTTProtocol.
_read_packet`) with one that hands the common packet (PUBLISH at QoS 1, MQTT 5,
no properties) straight to the callback and every other packet to gmqtt as
before; gmqtt's own path spent a Package, a dispatch and a debug log call per
message. Its `_handle_publish_packet` and `_handle_qos_1_publish_packet` are
replaced too, for packets that arrive through gmqtt anyway. PUBACKs are
written through the current `MQTTConnection.send_package`, and the broker's
Receive Maximum is read from the CONNACK (gmqtt's `on_connect` merges our own
CONNECT properties over the broker's, hiding it).

A token is an int: the number of the connection that delivered the message
(counted from 1 on this client), shifted left 16 bits, or'ed with the packet
id. The pipeline holds one per message in flight; an int costs neither a
constructor call nor the collector's attention, where an object per message
cost both (docs/performance.md). A token of a connection that has since
dropped is never acknowledged: its packet id meant something only on that
connection, and the broker redelivers the message on the new one.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from gmqtt.mqtt.package import Package

from urbanpulse import mqtt5

log = logging.getLogger(__name__)
# Copied into `Final` names: compiled, each is a C static, not a lookup per packet.
_PUBACK_WORD: Final = mqtt5.PUBACK_WORD
_QOS1_PUBLISH_MASK: Final = mqtt5.QOS1_PUBLISH_MASK
_QOS1_PUBLISH: Final = mqtt5.QOS1_PUBLISH


def token(connection_number: int, mid: int) -> int:
    """Return the acknowledgement token of packet `mid` on connection `connection_number`."""
    return connection_number << 16 | mid


Accept = Callable[[str, bytes, int], None]


class BulkAcknowledger:
    """Routes a gmqtt client's QoS 1 messages to `accept` and acknowledges them in bulk."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._connection: Any = None  # the latest connection, and its number
        self._number = 0

    def route(self, accept: Accept) -> None:
        """Hand every QoS 1 message to `accept` from now on; call it before connecting."""
        client = self._client

        def on_qos1(mid: int, payload: bytes, topic: str | bytes, properties: Any) -> None:
            if isinstance(topic, bytes):  # gmqtt passes undecodable topics as bytes
                topic = topic.decode("utf-8", "replace")
            accept(topic, payload, token(self._number, mid))

        handler = client._package_handler
        slow_path = handler._handle_publish_packet

        def on_publish(cmd: int, raw: bytes) -> None:
            """Take a QoS 1 MQTT 5 PUBLISH without properties; leave the rest to gmqtt."""
            if cmd & 0x06 != 0x02:  # QoS 0 or 2
                slow_path(cmd, raw)
                return
            publish = mqtt5.parse_publish(cmd, raw)
            if publish.has_properties or publish.packet_id is None:  # a topic alias...
                slow_path(cmd, raw)
                return
            accept(publish.topic, publish.payload, token(self._number, publish.packet_id))

        handler._handle_qos_1_publish_packet = on_qos1
        handler._handle_publish_packet = on_publish
        set_connection = handler.set_connection

        def on_connection(connection: Any) -> None:
            """Number each new connection and frame its packets with `_framer`."""
            set_connection(connection)
            self._connection = connection
            self._number += 1
            protocol = connection._protocol
            protocol._read_packet = _framer(handler, connection, protocol._read_packet, accept,
                                            self._number)

        handler.set_connection = on_connection

    def ack(self, tokens: Sequence[object]) -> None:
        """Send PUBACK for every token delivered on the current, open connection."""
        connection = self._client._connection
        if connection is None or connection is not self._connection or connection.is_closing():
            return
        number = self._number
        # Encoded here rather than by a function of mqtt5: in the one pass over the tokens
        # that picks them, not in a second pass over a list of packet ids.
        words = [_PUBACK_WORD | (delivered & 0xFFFF) for delivered in tokens
                 if type(delivered) is int and delivered >> 16 == number]
        if words:  # each PUBACK is four bytes: one big-endian 32-bit word
            connection.send_package(struct.pack(f"!{len(words)}I", *words))


def _framer(handler: Any, connection: Any, gmqtt_framer: Callable[[bytes], int],
            accept: Accept, number: int) -> Callable[[bytes], int]:
    """Return a replacement for gmqtt's `MQTTProtocol._read_packet` on one connection.

    Same contract: split `data` into whole MQTT packets, hand each on, return how
    many bytes were consumed (-1 for a malformed length). A QoS 1 PUBLISH without
    properties goes to `accept`, with a token of connection `number`; every other
    packet goes to gmqtt's handler.
    """
    put_package = connection.put_package
    monotonic = time.monotonic

    def read_packets(data: bytes) -> int:
        if handler.current_connection is not connection:
            return gmqtt_framer(data)  # a superseded connection: gmqtt drops its packets
        connection._last_data_in = monotonic()  # keep-alive bookkeeping, once per read
        size = len(data)
        at = 0
        while size - at >= 2:
            start, length, shift = at + 1, 0, 0
            while True:  # remaining length: a variable byte integer of 1 to 4 bytes
                if start >= size:
                    return at
                byte = data[start]
                start += 1
                length |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 21:
                    return -1
            end = start + length
            if end > size:
                break
            cmd = data[at]
            at = end
            if cmd & _QOS1_PUBLISH_MASK == _QOS1_PUBLISH and length >= 5:
                topic_end = start + 2 + ((data[start] << 8) | data[start + 1])
                if topic_end + 3 <= end and data[topic_end + 2] == 0:  # no properties
                    try:
                        accept(data[start + 2:topic_end].decode("utf-8", "replace"),
                               data[topic_end + 3:end],
                               token(number, data[topic_end] << 8 | data[topic_end + 1]))
                    except Exception:  # as gmqtt does: one bad message must not stop reading
                        log.exception("handling a message failed")
                    continue
            put_package(Package(cmd, data[start:end]))
        return at

    return read_packets


def broker_receive_maximum(client: Any) -> int:
    """Return the Receive Maximum the broker announced in its CONNACK (65535 if none)."""
    values = client._package_handler._connack_properties.get("receive_maximum")
    return int(values[0]) if values else 65535
