"""Acknowledge-after-write on gmqtt, one socket write per batch of PUBACKs.

With `optimistic_acknowledgement=False`, gmqtt acknowledges a QoS 1 message
when an `on_message` coroutine returns: one asyncio Task, its callbacks and
one socket write per message. Profiling the ingester showed that machinery
costing more CPU than validating and encoding the reading. This module instead
hands each QoS 1 message to a synchronous callback with a `Delivery` token and
writes the PUBACKs of a whole batch at once.

It is the only module that reaches into gmqtt (0.7, 0.8): on one client
instance it replaces the handler's `_handle_publish_packet` with a parser for
the common case (QoS 1, MQTT 5, no properties; anything else goes to gmqtt's
own) and its `_handle_qos_1_publish_packet`, writes
through the current `MQTTConnection.send_package`, and reads the broker's
Receive Maximum from the CONNACK (gmqtt's `on_connect` merges our own CONNECT
properties over the broker's, hiding it). A token of a connection that
has since dropped is never acknowledged: its packet id meant something only on
that connection, and the broker redelivers the message on the new one.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

_PUBACK = struct.Struct("!BBH")  # fixed header 0x40, remaining length 2, packet id
_PUBACK_TYPE = 0x40


class Delivery(NamedTuple):
    """Which connection delivered a message, and its packet id there."""

    connection: object
    mid: int


Accept = Callable[[str, bytes, Delivery], None]


class BulkAcknowledger:
    """Routes a gmqtt client's QoS 1 messages to `accept` and acknowledges them in bulk."""

    def __init__(self, client: Any, accept: Accept) -> None:
        self._client = client

        def on_qos1(mid: int, payload: bytes, topic: str | bytes, properties: Any) -> None:
            if isinstance(topic, bytes):  # gmqtt passes undecodable topics as bytes
                topic = topic.decode("utf-8", "replace")
            accept(topic, payload, Delivery(client._connection, mid))

        handler = client._package_handler
        slow_path = handler._handle_publish_packet

        def on_publish(cmd: int, raw: bytes) -> None:
            """Parse a QoS 1 MQTT 5 PUBLISH without properties; leave the rest to gmqtt."""
            if cmd & 0x06 != 0x02:  # QoS 0 or 2
                slow_path(cmd, raw)
                return
            end = 2 + ((raw[0] << 8) | raw[1])
            mid = (raw[end] << 8) | raw[end + 1]
            if raw[end + 2] != 0:  # properties (a topic alias, user properties...)
                slow_path(cmd, raw)
                return
            accept(raw[2:end].decode("utf-8", "replace"), raw[end + 3:],
                   Delivery(client._connection, mid))

        handler._handle_qos_1_publish_packet = on_qos1
        handler._handle_publish_packet = on_publish

    def ack(self, tokens: Sequence[object]) -> None:
        """Send PUBACK for every token delivered on the current, open connection."""
        connection = self._client._connection
        if connection is None or connection.is_closing():
            return
        packets = b"".join([_PUBACK.pack(_PUBACK_TYPE, 2, token.mid) for token in tokens
                            if isinstance(token, Delivery) and token.connection is connection])
        if packets:
            connection.send_package(packets)


def broker_receive_maximum(client: Any) -> int:
    """Return the Receive Maximum the broker announced in its CONNACK (65535 if none)."""
    values = client._package_handler._connack_properties.get("receive_maximum")
    return int(values[0]) if values else 65535
