"""Read the broker's retained messages under some topic filters, once, with a short-lived client.

The ingester's own subscriptions get retained messages only when the
subscription is new to its persistent session (Retain Handling 1), so a
restart or a reconnect does not process every retained birth again. What the
process must know at start (the sensors the alert engine watches) is read
here instead, without acknowledging or dead-lettering anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from gmqtt import Client, Subscription
from gmqtt.mqtt.constants import MQTTv50

from urbanpulse.settings import IngestSettings

_QUIET_S = 0.3  # retained messages follow the SUBACK in a burst: this long without one ends it
_LONGEST_S = 10.0


async def read_retained(settings: IngestSettings, filters: Sequence[str], *, client_id: str,
                        max_payload_bytes: int) -> list[tuple[str, bytes]]:
    """Return (topic, payload) of the retained messages under `filters`.

    Empty payloads (cleared topics) and payloads over `max_payload_bytes` are
    left out, so a hostile retained message costs no memory here.
    """
    client = Client(client_id, clean_session=True)
    if settings.mqtt_username:
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        client.set_auth_credentials(settings.mqtt_username, password)
    messages: list[tuple[str, bytes]] = []
    last = [time.monotonic()]

    def on_message(client: Client, topic: str, payload: bytes, qos: int,
                   properties: Any) -> int:
        if payload and len(payload) <= max_payload_bytes:
            messages.append((topic, payload))
        last[0] = time.monotonic()
        return 0

    subscribed = asyncio.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    await client.connect(settings.mqtt_host, settings.mqtt_port, version=MQTTv50, keepalive=30)
    try:
        client.subscribe([Subscription(topic_filter, qos=1) for topic_filter in filters])
        await asyncio.wait_for(subscribed.wait(), _LONGEST_S)
        last[0] = time.monotonic()
        deadline = time.monotonic() + _LONGEST_S
        while time.monotonic() - last[0] < _QUIET_S and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        await client.disconnect()
    return messages
