"""The ingester process: the MQTT edge around the pipeline, signals, status and health.

MQTT 5 persistent session (fixed client id, clean start off, session expiry
from settings), QoS 1 subscriptions, Receive Maximum = the in-flight window,
and PUBACK only when `Pipeline.handle` returns. A message received on a
connection that has since dropped is never acknowledged: the broker redelivers
it on the new connection, and the second write of it is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path
from typing import Any

from gmqtt import Client, Message
from gmqtt.mqtt.constants import MQTTv50
from gmqtt.mqtt.handler import MQTTConnectError

from ingest import IngestError
from ingest.decode import Decoder
from ingest.pipeline import Pipeline
from ingest.writer import InfluxWriter
from urbanpulse.settings import IngestSettings
from urbanpulse.topics import Channel, status_topic, subscription

log = logging.getLogger(__name__)
_HEALTH_EVERY_S = 5.0


class StaleDeliveryError(IngestError):
    """A message outlived its connection or arrived while draining; it is left unacknowledged."""


class Ingester:
    """Connects the pipeline to the broker and runs until asked to stop."""

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        token = settings.influx_token.get_secret_value() if settings.influx_token else None
        self.writer = InfluxWriter(url=settings.influx_url, database=settings.influx_db,
                                   token=token, timeout_s=settings.influx_timeout_s,
                                   retry_max_s=settings.ingest_retry_max_s)
        self._status = status_topic("ingest", settings.ingest_instance, root=settings.topic_root)
        self._client = Client(
            settings.ingest_client_id, clean_session=False, optimistic_acknowledgement=False,
            will_message=Message(self._status, b"offline", qos=1, retain=True),
            session_expiry_interval=settings.ingest_session_expiry_s,
            receive_maximum=settings.ingest_max_inflight,
        )
        self._client.set_config({"reconnect_delay": 1})
        if settings.mqtt_username:
            password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
            self._client.set_auth_credentials(settings.mqtt_username, password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        decoder = Decoder(root=settings.topic_root,
                          max_payload_bytes=settings.ingest_max_payload_bytes,
                          max_future_s=settings.ingest_max_future_s,
                          max_age_s=settings.ingest_max_age_s)
        self.pipeline = Pipeline(decoder=decoder, writer=self.writer, publisher=self,
                                 root=settings.topic_root,
                                 batch_size=settings.ingest_batch_size,
                                 flush_interval_s=settings.ingest_flush_interval_s)
        self._generation = 0
        self._accepting = True
        self._handling = 0
        self.subscribed = asyncio.Event()
        self._held: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def publish(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Publish at QoS 1 (dead letters and status)."""
        self._client.publish(topic, payload, qos=1, retain=retain)

    def _topic_filters(self) -> list[str]:
        root = self._settings.topic_root
        districts = self._settings.ingest_districts or ["+"]
        return [subscription(channel, root=root, district=district)
                for district in districts for channel in (Channel.READINGS, Channel.SENSORS)]

    def _on_connect(self, client: Client, flags: int, rc: int, properties: Any) -> None:
        self._generation += 1
        for topic_filter in self._topic_filters():
            client.subscribe(topic_filter, qos=1)
        self.publish(self._status, b"online", retain=True)
        self.subscribed.set()
        log.info("connected (session present: %s); subscribed to %s", bool(flags),
                 ", ".join(self._topic_filters()))

    def _on_disconnect(self, client: Client, packet: bytes, exc: Exception | None = None
                       ) -> None:
        self._generation += 1
        self.subscribed.clear()
        if self._accepting:
            log.warning("disconnected from the broker; unacknowledged messages will be "
                        "redelivered")

    async def _on_message(self, client: Client, topic: str, payload: bytes, qos: int,
                          properties: dict[str, Any]) -> int:
        generation = self._generation
        if not self._accepting:
            await self._held
        self._handling += 1
        try:
            await self.pipeline.handle(topic, payload)
        finally:
            self._handling -= 1
        if generation != self._generation:
            raise StaleDeliveryError(f"connection changed while {topic} was being written")
        return 0

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, consume until `stop` is set, then drain within the configured bound."""
        settings = self._settings
        password_note = " as " + settings.mqtt_username if settings.mqtt_username else ""
        await _connect(self._client, settings.mqtt_host, settings.mqtt_port, password_note)
        flusher = asyncio.create_task(self.pipeline.run(), name="flusher")
        health = asyncio.create_task(self._keep_healthy(stop), name="health")
        await stop.wait()
        log.info("stopping: draining %d pending messages", self.pipeline.pending)
        self._accepting = False
        try:
            await asyncio.wait_for(self.pipeline.drain(), settings.ingest_drain_timeout_s)
        except TimeoutError:
            log.error("drain did not finish within %.0f s; unwritten messages stay "
                      "unacknowledged and will be redelivered", settings.ingest_drain_timeout_s)
        await self._settle_acks()
        flusher.cancel()
        health.cancel()
        self.publish(self._status, b"offline", retain=True)
        await self._client.disconnect()
        await self.writer.aclose()
        stats = self.pipeline.stats
        log.info("stopped: %d received, %d written, %d rejected", stats.received, stats.written,
                 sum(stats.rejected.values()))

    async def _settle_acks(self) -> None:
        """Let released handlers return, so their PUBACKs go out before DISCONNECT."""
        deadline = time.monotonic() + 2.0
        while self._handling and time.monotonic() < deadline:  # noqa: ASYNC110  (a counter)
            await asyncio.sleep(0.005)
        for _ in range(3):  # handler done-callbacks, then the PUBACK writes
            await asyncio.sleep(0)

    async def _keep_healthy(self, stop: asyncio.Event) -> None:
        path = Path(self._settings.ingest_health_file) if self._settings.ingest_health_file \
            else None
        while not stop.is_set():
            if path is not None and self.subscribed.is_set():
                path.touch()
            await asyncio.sleep(_HEALTH_EVERY_S)


async def _connect(client: Client, host: str, port: int, who: str) -> None:
    delay = 0.5
    while True:
        try:
            await client.connect(host, port, version=MQTTv50, keepalive=30)
            return
        except MQTTConnectError as exc:
            raise IngestError(f"The broker at {host}:{port} refused the ingester{who}: "
                              f"{exc}.") from None
        except OSError as exc:
            log.warning("broker %s:%d unreachable (%s); retrying in %.1f s", host, port, exc,
                        delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def _quiet_stale(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if isinstance(context.get("exception"), StaleDeliveryError | asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


async def serve(settings: IngestSettings) -> None:
    """Run one ingester until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_stale)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    await Ingester(settings).run(stop)
    log.info("ingester ran for %.1f s", time.monotonic() - started)


def main(settings: IngestSettings) -> int:
    """Entry point of `urbanpulse ingest`; returns the exit code."""
    asyncio.run(serve(settings))  # errors reach the command line, which explains them
    return 0
