"""The api's MQTT connections: feeds of signed states, and acknowledgement commands.

Every use opens its own short-lived gmqtt connection with a clean session and a
one-off client id (`urbanpulse-api-{purpose}-…`), logged in with the api's
credentials: one per open stream and one per command. The broker does the
fan-out, each stream starts from the broker's retained topics (the active
alerts, the open incidents: `SignedFeed`, with `AlertFeed` here and
`api.incident_feed.IncidentFeed`), and a stream whose connection drops simply
ends: an SSE client reconnects and gets the retained state again. None of
these clients reconnects on its own.

Every state a feed receives must carry the ingester's signature
(`urbanpulse.signing`, key `URBANPULSE_ALERT_KEY`): an unsigned or badly signed
one, as anyone with publish rights on the alert topics can retain, is logged
and dropped, and every ack command the api sends is signed, stamped and
carries a nonce, so the ingester can refuse forged, stale and replayed ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import anyio
import gmqtt
import msgspec
from gmqtt.mqtt.constants import MQTTv311

from api.errors import AckTimeoutError, BrokerUnavailableError
from api.models import Alert
from urbanpulse.messages import Alert as AlertMessage
from urbanpulse.messages import alert_decoder, encoder
from urbanpulse.settings import ApiSettings
from urbanpulse.signing import is_signed_alert, signed_ack
from urbanpulse.topics import ack_topic, alert_topic

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
"""Longest a connection, or a subscription's SUBACK, may take."""
QUEUE_LIMIT = 10_000
"""States one subscription holds for a slow reader before it gives up."""

State = TypeVar("State")


class OneShotClient(gmqtt.Client):  # type: ignore[misc]  # gmqtt ships no type hints
    """A gmqtt client that never reconnects: whoever uses it sees a dropped connection."""

    async def reconnect(self, delay: bool = False) -> None:
        """Do nothing; gmqtt would otherwise retry in the background."""


def new_client(settings: ApiSettings, purpose: str, *,
               reconnects: bool = False) -> gmqtt.Client:
    """Return a clean-session client with a one-off id and the api's credentials.

    It never reconnects unless `reconnects` (then gmqtt retries on its own).
    """
    kind = gmqtt.Client if reconnects else OneShotClient
    client = kind(f"urbanpulse-api-{purpose}-{uuid.uuid4().hex[:12]}", clean_session=True)
    if settings.mqtt_username is not None:
        password = settings.mqtt_password
        client.set_auth_credentials(settings.mqtt_username,
                                    None if password is None else password.get_secret_value())
    return client


async def leave(client: gmqtt.Client) -> None:
    """Disconnect, shielded from cancellation, or give up when the connection is broken."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(CONNECT_TIMEOUT_S), \
            contextlib.suppress(OSError, RuntimeError):
        await client.disconnect()


def alert_model(message: AlertMessage) -> Alert:
    """Return the api's model of an alert state received on MQTT."""
    fields = msgspec.structs.asdict(message)
    del fields["v"], fields["sig"]
    return Alert(**fields)


class SignedFeed(ABC, Generic[State]):
    """A subscription to state topics that queues every signed state received, in order.

    Use as `async with feed`; entering connects and waits for the SUBACK, so
    the broker's retained messages (the active alerts, the open incidents) are
    the first to arrive. Empty retained payloads (a clear) are skipped; what
    `accept` refuses (a malformed payload, a state without a valid signature of
    the ingester, or any state when the api has no alert key) it logs with its
    topic. A reader `QUEUE_LIMIT` states behind is cut off: the feed ends.

    Raises:
        BrokerUnavailableError: on entering, when the broker is unreachable,
            refuses the login or does not answer in time.
    """

    noun = "state"
    """What the feed carries, for its log lines."""

    def __init__(self, settings: ApiSettings, topic_filter: str, *, purpose: str) -> None:
        self._settings = settings
        self._key = settings.alert_key_bytes()
        self._filter = topic_filter
        self._client = new_client(settings, purpose)
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._subscribed = asyncio.Event()
        self._queue: asyncio.Queue[State | None] = asyncio.Queue()
        self._is_open = False

    @abstractmethod
    def accept(self, topic: str, payload: bytes) -> State | None:
        """Return the state a payload holds, or None (logged) when it is not to be taken."""

    def _on_message(self, client: gmqtt.Client, topic: str, payload: bytes, qos: int,
                    properties: dict[str, Any]) -> int:
        if not payload:
            return 0
        state = self.accept(topic, payload)
        if state is None:
            return 0
        if self._queue.qsize() >= QUEUE_LIMIT:
            logger.warning("an %s subscription fell %d states behind; ending it", self.noun,
                           QUEUE_LIMIT)
            self._queue.put_nowait(None)
            self._is_open = False
            return 0
        if self._is_open:
            self._queue.put_nowait(state)
        return 0

    def _on_subscribe(self, client: gmqtt.Client, mid: int, qos: Any, properties: Any) -> None:
        self._subscribed.set()

    def _on_disconnect(self, client: gmqtt.Client, packet: bytes,
                       exc: Exception | None = None) -> None:
        if self._is_open:
            self._is_open = False
            self._queue.put_nowait(None)

    async def __aenter__(self) -> Self:
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

    async def get(self) -> State | None:
        """Return the next state, or None once the connection has ended."""
        return await self._queue.get()

    async def first(self, wanted: Callable[[State], bool], *, timeout_s: float) -> State | None:
        """Return the first state `wanted` takes; None when the connection ends first.

        Raises:
            TimeoutError: none came within `timeout_s`.
        """
        async with asyncio.timeout(timeout_s):
            while (state := await self.get()) is not None:
                if wanted(state):
                    return state
        return None

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish a non-retained QoS 1 message on this feed's connection."""
        self._client.publish(topic, payload, qos=1, retain=False)


class AlertFeed(SignedFeed[AlertMessage]):
    """A feed of the alert states the ingester signed."""

    noun = "alert"

    def __init__(self, settings: ApiSettings, topic_filter: str, *,
                 purpose: str = "alerts") -> None:
        super().__init__(settings, topic_filter, purpose=purpose)

    def accept(self, topic: str, payload: bytes) -> AlertMessage | None:
        """Return a well-formed alert state signed by the ingester, else None (logged)."""
        try:
            alert = alert_decoder.decode(payload)
        except msgspec.DecodeError as exc:
            logger.warning("ignored a malformed alert on %s (%s): %.200r", topic, exc, payload)
            return None
        if self._key is None or not is_signed_alert(alert, self._key):
            logger.warning("ignored an alert state on %s without a valid signature of the "
                           "ingester (forged, or signed with another URBANPULSE_ALERT_KEY): "
                           "%.200r", topic, payload)
            return None
        return alert


async def acknowledge(settings: ApiSettings, alert: Alert, *, by: str, note: str) -> Alert:
    """Send an ack command for `alert` and return its acknowledged state once published.

    Subscribes to the alert's own topic first, then publishes a signed
    `AckCommand` at QoS 1 on the command topic, and waits at most
    `settings.api_ack_timeout_s` for the ingester to publish the `acknowledged`
    state. That state may be another acknowledgement's, which won the race:
    the caller compares its `acked_by` and `note`. The settings must hold an
    alert key.

    Raises:
        BrokerUnavailableError: the broker is unreachable or dropped the connection.
        AckTimeoutError: no acknowledged state arrived in time.
    """
    root = settings.topic_root
    topic = alert_topic(alert.district, alert.kind, alert.sensor, alert.rule, root=root)
    key = settings.alert_key_bytes()
    if key is None:
        raise ValueError("acknowledge() needs settings with an alert key")
    command = signed_ack(alert.alert_id, by, note, key=key, now_ms=int(time.time() * 1000))
    timeout = settings.api_ack_timeout_s
    async with AlertFeed(settings, topic, purpose="ack") as feed:
        feed.publish(ack_topic(root=root), encoder.encode(command))
        try:
            state = await feed.first(lambda state: state.alert_id == alert.alert_id
                                     and state.state == "acknowledged", timeout_s=timeout)
            if state is not None:
                return alert_model(state)
        except TimeoutError:
            raise AckTimeoutError(
                f"The ingester did not confirm the acknowledgement of alert "
                f"{alert.alert_id!r} within {timeout:g} s; it may be down or busy. "
                "The command stays queued for it, so ask again later to see the state."
            ) from None
    raise BrokerUnavailableError(
        f"The MQTT broker at {settings.mqtt_host}:{settings.mqtt_port} dropped the connection "
        f"while the api waited for the acknowledgement of alert {alert.alert_id!r}.")
