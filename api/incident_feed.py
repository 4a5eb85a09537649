"""The api's MQTT side of incidents: a feed of signed incident states, and transitions.

As for alerts (`api.broker`), every use opens its own clean-session
connection with a one-off client id: one per open incident stream and one per
transition. A feed takes only states the ingester signed
(`URBANPULSE_ALERT_KEY`) and published on the incident's own topic; anything
else is logged and dropped. A transition is a signed, stamped command with a
nonce (`urbanpulse.signing.signed_transition`), so the ingester can refuse
forged, stale and replayed ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import TracebackType
from typing import Any

import gmqtt
import msgspec
from gmqtt.mqtt.constants import MQTTv311

from api.broker import CONNECT_TIMEOUT_S, QUEUE_LIMIT, leave, new_client
from api.errors import BrokerUnavailableError, TransitionTimeoutError
from urbanpulse.messages import Incident, IncidentStage, encoder, incident_decoder
from urbanpulse.settings import ApiSettings
from urbanpulse.signing import is_signed_incident, signed_transition
from urbanpulse.topics import incident_topic, transition_topic

logger = logging.getLogger(__name__)


class IncidentFeed:
    """A subscription to incident topics that queues every signed incident state, in order.

    `async with IncidentFeed(settings, topic_filter) as feed`: entering connects and
    waits for the SUBACK, so the retained states (the open incidents) come first.
    Empty retained payloads (a closed incident's clear) are skipped.

    Raises:
        BrokerUnavailableError: on entering, when the broker is unreachable, refuses
            the login or does not answer in time.
    """

    def __init__(self, settings: ApiSettings, topic_filter: str, *,
                 purpose: str = "incidents") -> None:
        self._settings = settings
        self._key = settings.alert_key_bytes()
        self._filter = topic_filter
        self._client = new_client(settings, purpose)
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._subscribed = asyncio.Event()
        self._queue: asyncio.Queue[Incident | None] = asyncio.Queue()
        self._is_open = False

    def _on_message(self, client: gmqtt.Client, topic: str, payload: bytes, qos: int,
                    properties: dict[str, Any]) -> int:
        if not payload:
            return 0
        try:
            incident = incident_decoder.decode(payload)
        except msgspec.DecodeError as exc:
            logger.warning("ignored a malformed incident on %s (%s): %.200r", topic, exc,
                           payload)
            return 0
        if self._key is None or not is_signed_incident(incident, self._key) or topic != \
                incident_topic(incident.district, incident.incident_id,
                               root=self._settings.topic_root):
            logger.warning("ignored an incident state on %s without a valid signature of the "
                           "ingester, or not on its own topic: %.200r", topic, payload)
            return 0
        if self._queue.qsize() >= QUEUE_LIMIT:
            logger.warning("an incident subscription fell %d states behind; ending it",
                           QUEUE_LIMIT)
            self._queue.put_nowait(None)
            self._is_open = False
            return 0
        if self._is_open:
            self._queue.put_nowait(incident)
        return 0

    def _on_subscribe(self, client: gmqtt.Client, mid: int, qos: Any, properties: Any) -> None:
        self._subscribed.set()

    def _on_disconnect(self, client: gmqtt.Client, packet: bytes,
                       exc: Exception | None = None) -> None:
        if self._is_open:
            self._is_open = False
            self._queue.put_nowait(None)

    async def __aenter__(self) -> IncidentFeed:
        settings = self._settings
        where = f"The MQTT broker at {settings.mqtt_host}:{settings.mqtt_port}"
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self._client.connect(settings.mqtt_host, settings.mqtt_port,
                                           keepalive=30, version=MQTTv311)
                self._is_open = True
                self._client.subscribe(self._filter, qos=1)
                await self._subscribed.wait()
        except TimeoutError:
            await leave(self._client)
            raise BrokerUnavailableError(
                f"{where} did not accept a subscription within {CONNECT_TIMEOUT_S:g} s."
            ) from None
        except gmqtt.MQTTConnectError as exc:
            await leave(self._client)
            raise BrokerUnavailableError(f"{where} refused the api: {exc}.") from None
        except OSError as exc:
            await leave(self._client)
            raise BrokerUnavailableError(
                f"{where} is unreachable: {exc.strerror or exc}.") from None
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, traceback: TracebackType | None) -> None:
        self._is_open = False
        await leave(self._client)

    async def get(self) -> Incident | None:
        """Return the next incident state, or None once the connection has ended."""
        return await self._queue.get()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish a non-retained QoS 1 message on this feed's connection."""
        self._client.publish(topic, payload, qos=1, retain=False)


async def move(settings: ApiSettings, current: Incident, *, to: IncidentStage, by: str,
               note: str) -> Incident:
    """Send a transition of `current` and return the first transition the ingester publishes.

    Subscribes to the incident's own topic first, then publishes the signed
    command at QoS 1, and waits at most `settings.api_ack_timeout_s` for a state
    newer than `current` that a transition made. That may be another operator's,
    which got there first: the caller compares `stage`, `by` and `note`. The
    settings must hold an alert key.

    Raises:
        BrokerUnavailableError: the broker is unreachable or dropped the connection.
        TransitionTimeoutError: no transition was published in time.
    """
    root = settings.topic_root
    key = settings.alert_key_bytes()
    if key is None:
        raise ValueError("move() needs settings with an alert key")
    command = signed_transition(current.incident_id, to, by, note, key=key,
                                now_ms=int(time.time() * 1000))
    timeout = settings.api_ack_timeout_s
    topic = incident_topic(current.district, current.incident_id, root=root)
    async with IncidentFeed(settings, topic, purpose="transition") as feed:
        feed.publish(transition_topic(root=root), encoder.encode(command))
        try:
            async with asyncio.timeout(timeout):
                while (state := await feed.get()) is not None:
                    if state.ts > current.ts and state.change == "transition":
                        return state
        except TimeoutError:
            raise TransitionTimeoutError(
                f"The ingester did not confirm moving incident {current.incident_id} to "
                f"{to} within {timeout:g} s; it may be down or busy. The command stays "
                "queued for it a while, so look at the incident again later.") from None
    raise BrokerUnavailableError(
        f"The MQTT broker at {settings.mqtt_host}:{settings.mqtt_port} dropped the connection "
        f"while the api waited for incident {current.incident_id} to move.")
