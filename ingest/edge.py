"""Acknowledge-after-write on gmqtt, one socket write per batch of PUBACKs.

With `optimistic_acknowledgement=False`, gmqtt acknowledges a QoS 1 message
when an `on_message` coroutine returns: one asyncio Task, its callbacks and
one socket write per message. Profiling the ingester showed that machinery
costing more CPU than validating and encoding the reading. This module instead
hands each QoS 1 message to a synchronous callback with a `Delivery` token and
writes the PUBACKs of a whole batch at once.

It is the only module that reaches into gmqtt (0.7, 0.8): it replaces the
handler's `_handle_qos_1_publish_packet` on one client instance, writes
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

        client._package_handler._handle_qos_1_publish_packet = on_qos1

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
