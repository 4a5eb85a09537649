"""The ingester process: the MQTT edge around the pipeline, signals, status and health.

MQTT 5 persistent session (fixed client id, clean start off, session expiry
from settings), QoS 1 subscriptions, Receive Maximum = the in-flight window,
and PUBACK only when the pipeline hands a message's token back (`ingest.edge`).
A message received on a connection that has since dropped is never
acknowledged: the broker redelivers it on the new connection, and the second
write of it is idempotent. Beside the raw points the `Keeper` writes rollups
and the ingester publishes each district's latest state (ingest.keeper).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import signal
import time
from pathlib import Path
from typing import Any

from gmqtt import Client, Message
from gmqtt.mqtt.constants import MQTTv50
from gmqtt.mqtt.handler import MQTTConnectError

from ingest import IngestError, compiled
from ingest.alerts.changes import AlertChanges
from ingest.alerts.commands import ack_gate
from ingest.alerts.engine import AlertEngine
from ingest.alerts.inhibit import load_inhibit_rules
from ingest.alerts.lists import ChangeLog
from ingest.alerts.notify import Notifier, NotifyPolicy
from ingest.alerts.record import wait_for_active
from ingest.alerts.rules import load_rules
from ingest.census import Census
from ingest.decode import Decoder, Rejected
from ingest.edge import BulkAcknowledger, broker_receive_maximum
from ingest.incidents.office import IncidentOffice
from ingest.keeper import Keeper
from ingest.metrics import SelfMetrics
from ingest.outbox import Outbox
from ingest.pipeline import Pipeline
from ingest.points import alert_point
from ingest.rejections import RejectionLog
from ingest.retained import read_retained
from ingest.writer import InfluxWriter
from urbanpulse.messages import Alert, ack_decoder, encoder
from urbanpulse.settings import IngestSettings
from urbanpulse.signing import sign_alert, sign_notification
from urbanpulse.topics import (
    Channel,
    ack_topic,
    alert_topic,
    notification_topic,
    status_topic,
    subscription,
)

log = logging.getLogger(__name__)
LAST_POINTS_TIMEOUT_S = 5.0
"""Bound on the metrics points written on stop, after the drain (whose own bound is
`URBANPULSE_INGEST_DRAIN_TIMEOUT_S`): the longest stop is the two together."""
_HEALTH_EVERY_S = 5.0
_OUTBOX_WINDOW = 1000
_SWEEP_EVERY_S = 1.0
_NOTIFY_EVERY_S = 1.0
_STABLE_AFTER_S = 10.0  # a connection up this long resets the reconnect back-off
_RECONNECT_CAP_S = 60.0
_GC_THRESHOLDS = (10_000, 10, 10)  # Python's are (700, 10, 10): a young collection per 700


class Ingester:
    """Connects the pipeline to the broker and runs until asked to stop."""

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        self.writer = InfluxWriter(url=settings.influx_url, database=settings.influx_db,
                                   auth=settings.influx_auth_headers(),
                                   timeout_s=settings.influx_timeout_s,
                                   retry_max_s=settings.ingest_retry_max_s)
        self._status = status_topic("ingest", settings.ingest_instance, root=settings.topic_root)
        self.outbox = Outbox(_OUTBOX_WINDOW)
        self._client = Client(
            settings.ingest_client_id, clean_session=False, optimistic_acknowledgement=False,
            will_message=Message(self._status, b"offline", qos=1, retain=True),
            persistent_storage=self.outbox.storage,
            session_expiry_interval=settings.ingest_session_expiry_s,
            receive_maximum=settings.ingest_max_inflight,
        )
        self._client.set_config({"reconnect_delay": 1})
        if settings.mqtt_username:
            password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
            self._client.set_auth_credentials(settings.mqtt_username, password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_other_message
        acks = BulkAcknowledger(self._client)
        self.outbox.attach(self._client, acks.ack)
        decoder = Decoder(root=settings.topic_root,
                          max_payload_bytes=settings.ingest_max_payload_bytes,
                          max_future_s=settings.ingest_max_future_s,
                          max_age_s=settings.ingest_max_age_s)
        rules = Path(settings.ingest_rules) if settings.ingest_rules else None
        alert_rules = load_rules(rules)
        self.engine = AlertEngine(alert_rules)
        self.changes = AlertChanges(settings.ingest_districts)
        self.change_log = ChangeLog()
        self.notifier = Notifier(alert_rules, load_inhibit_rules(rules, alert_rules),
                                 NotifyPolicy.from_settings(settings), clock=_now_ms,
                                 attributes=self.engine.attributes)
        self._acks = acks
        self._ack_topic = ack_topic(root=settings.topic_root)
        self._alert_key = settings.alert_key_bytes()
        census = Census()
        self.keeper = Keeper(settings, intervals=census.intervals)
        self._ack_gate = ack_gate(self._alert_key, settings.ingest_ack_max_age_s)
        self.incidents = IncidentOffice(settings, publish=self.outbox.publish,
                                        emit_alerts=self._emit, acknowledge=acks.ack)
        self.pipeline = Pipeline(decoder=decoder, writer=self.writer, publisher=self.outbox,
                                 acknowledger=acks, root=settings.topic_root,
                                 batch_size=settings.ingest_batch_size,
                                 flush_interval_s=settings.ingest_flush_interval_s,
                                 engine=self.engine, on_alerts=self._emit,
                                 commands={self._ack_topic: self._on_ack,
                                           **self.incidents.commands},
                                 rejection_log=self._rejection_log(log),
                                 on_written=self.keeper.written, census=census)
        self.incidents.attach(self.pipeline)
        self._other_log = self._rejection_log(log)
        acks.route(self.pipeline.accept)  # compiled all the way: no Python frame per message
        self.metrics = SelfMetrics(self.pipeline, self.writer, self.outbox,
                                   instance=settings.ingest_instance,
                                   counters=(self.notifier.stats.counters,),
                                   active=lambda: [*self.engine.active,
                                                   *self.incidents.desk.overruns])
        self._unacked_subscriptions = 0
        self.subscribed = asyncio.Event()
        self._connected_at = 0.0
        self._drops = 0  # connections in a row dropped before they were stable
        self._taken_over_said = False

    def _districts(self) -> list[str]:
        return self._settings.ingest_districts or ["+"]

    def _topic_filters(self) -> list[str]:
        root = self._settings.topic_root
        return [subscription(channel, root=root, district=district)
                for district in self._districts()
                for channel in (Channel.READINGS, Channel.SENSORS)] + [
                    self._ack_topic, *self.incidents.commands]

    def _emit(self, alerts: list[Alert]) -> None:
        """Publish alert changes (retained while active) and store them in `alerts`."""
        root = self._settings.topic_root
        for alert in alerts:
            topic = alert_topic(alert.district, alert.kind, alert.sensor, alert.rule, root=root)
            signed = alert if self._alert_key is None else sign_alert(alert, self._alert_key)
            payload = encoder.encode(signed)
            if alert.state == "resolved":
                self.outbox.publish(topic, payload, retain=False)
                self.outbox.publish(topic, b"", retain=True)  # late subscribers see only active
            else:
                self.outbox.publish(topic, payload, retain=True)
            self.pipeline.add_point(alert_point(alert))
            self.pipeline.add_point(self.change_log.point(alert))
            if (count := self.changes.add(alert)) is not None:
                self.pipeline.add_point(count)
        self.notifier.observe(alerts)  # what pages people: grouped, inhibited, flapping held
        self.incidents.on_alerts(alerts)  # firing alerts open or join incidents

    async def _notify(self) -> None:
        """Publish the notifications that fell due (signed, not retained), every second.

        Not retained: a notification is a page, not a state; a late subscriber finds the
        active alerts retained on their own topics.
        """
        root = self._settings.topic_root
        while True:
            await asyncio.sleep(_NOTIFY_EVERY_S)
            for due in self.notifier.due():
                signed = due if self._alert_key is None else sign_notification(due,
                                                                                self._alert_key)
                self.outbox.publish(notification_topic(due.district, due.rule, root=root),
                                    encoder.encode(signed), retain=False)

    async def _states(self) -> None:
        """Publish the state of each district that changed, every state interval."""
        while True:
            await asyncio.sleep(self._settings.ingest_state_interval_s)
            self._publish_states()

    def _publish_states(self) -> None:
        for topic, payload in self.keeper.states():
            self.outbox.publish(topic, payload, retain=True)

    def _on_ack(self, topic: str, payload: bytes, delivery: object) -> None:
        try:
            command = ack_decoder.decode(payload)
        except ValueError as exc:  # msgspec.DecodeError is a ValueError
            self.pipeline.dead_letter(topic, payload, Rejected("schema", f"Bad ack: {exc}."),
                                      delivery)
            return
        now_ms = int(time.time() * 1000)
        if (refused := self._ack_gate.refuse(command, now_ms)) is not None:
            self.pipeline.dead_letter(topic, payload, refused, delivery)
            return
        alert = self.engine.acknowledge(command.alert_id, command.by, command.note, now_ms) \
            or self.incidents.acknowledge(command.alert_id, command.by, command.note, now_ms)
        if alert is not None:
            self._emit([alert])
        self._acks.ack((delivery,))

    async def _restore_alerts(self) -> None:
        """Take this partition's active alerts back from InfluxDB before consuming readings.

        The `alerts` measurement is the ingester's own record; the broker's
        retained alert topics are not read, as anyone allowed to publish there
        could have retained a forgery (docs/alerts.md). An unreachable or busy
        InfluxDB (timeouts, 429, 5xx) is waited for, as by the start-up check.
        """
        settings = self._settings
        if self._alert_key is None:
            log.warning("URBANPULSE_ALERT_KEY is not set: alert states go out unsigned (the "
                        "api's stream refuses them) and every ack command is refused")
        for alert in await wait_for_active(url=settings.influx_url,
                                           database=settings.influx_db,
                                           headers=settings.influx_auth_headers(),
                                           districts=settings.ingest_districts,
                                           timeout_s=settings.influx_timeout_s,
                                           retry_max_s=settings.ingest_retry_max_s):
            self.engine.restore(alert)
        self.notifier.restore(self.engine.active)  # they paged before the restart
        log.info("restored %d active alerts from InfluxDB", len(self.engine.active))

    def _rejection_log(self, logger: logging.Logger) -> RejectionLog:
        settings = self._settings
        return RejectionLog(logger, burst=settings.ingest_rejection_log_burst,
                            interval_s=settings.ingest_rejection_log_interval_s)

    async def _restore_births(self) -> None:
        """Register the partition's retained births with the alert engine, read-only.

        The ingester's subscriptions take retained messages only when new to its
        session, so after a restart the births are read here: neither written
        nor dead-lettered again.
        """
        settings = self._settings
        births = await read_retained(
            settings, [subscription(Channel.SENSORS, root=settings.topic_root, district=district)
                       for district in self._districts()],
            client_id=f"{settings.ingest_client_id}-births",
            max_payload_bytes=settings.ingest_max_payload_bytes)
        log.info("registered %d of %d retained births", self.pipeline.restore_births(births),
                 len(births))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_EVERY_S)
            changes = self.engine.sweep(int(time.time() * 1000))
            if changes:
                self._emit(changes)

    def _on_connect(self, client: Client, flags: int, rc: int, properties: Any) -> None:
        self._connected_at = time.monotonic()
        self.outbox.connected(broker_receive_maximum(client))
        filters = self._topic_filters()
        self._unacked_subscriptions = len(filters)
        for topic_filter in filters:
            # Retained messages only for a subscription new to the session: a restart or a
            # reconnect would otherwise take every retained birth again, and dead-letter
            # each bad one again (_restore_births reads them for the engine instead).
            client.subscribe(topic_filter, qos=1, retain_handling_options=1)
        self.outbox.publish(self._status, b"online", retain=True)
        log.info("connected (session present: %s); subscribing to %s", bool(flags),
                 ", ".join(filters))

    def _on_subscribe(self, client: Client, mid: int, qos: Any, properties: Any) -> None:
        self._unacked_subscriptions -= 1
        if self._unacked_subscriptions <= 0:
            self.subscribed.set()

    def _on_disconnect(self, client: Client, packet: bytes, exc: Exception | None = None
                       ) -> None:
        self.subscribed.clear()
        self.outbox.disconnected()
        # gmqtt retries every reconnect_delay s forever: back off while connections keep
        # dropping at once (another ingester with this client id taking the session over).
        if time.monotonic() - self._connected_at >= _STABLE_AFTER_S:
            self._drops = 0
        self._drops += 1
        delay = min(_RECONNECT_CAP_S, 2.0 ** (self._drops - 1))
        client.set_config({"reconnect_delay": delay / 2 + random.uniform(0, delay / 2)})
        if not self.pipeline.accepting:
            return
        if self._drops == 1:
            log.warning("disconnected from the broker; unacknowledged messages will be "
                        "redelivered")
        elif not self._taken_over_said:
            self._taken_over_said = True
            log.error("the broker at %s:%d closed the connection again right after accepting "
                      "it: most likely another client with the same client id '%s' takes the "
                      "session over (Session taken over); reconnecting with back-off. Give each "
                      "ingest instance its own URBANPULSE_INGEST_CLIENT_ID (docs/scaling.md).",
                      self._settings.mqtt_host, self._settings.mqtt_port,
                      self._settings.ingest_client_id)
        else:
            log.debug("disconnected from the broker again")

    def _on_other_message(self, client: Client, topic: str, payload: bytes, qos: int,
                          properties: dict[str, Any]) -> int:
        self.pipeline.stats.ignored += 1
        self._other_log.rejected(topic, f"qos{qos}", f"Ignored a QoS {qos} message: readings "
                                 "and births come at QoS 1.", payload)
        return 0

    async def run(self, stop: asyncio.Event) -> None:
        """Check InfluxDB, connect, consume until `stop` is set, then drain within a bound."""
        settings = self._settings
        await self.writer.check(self.metrics.started_point())
        await self._restore_alerts()
        await self.change_log.seed(self.keeper.history.read)
        await self.incidents.restore()
        await self._restore_births()
        await self.keeper.seed()
        await self.pipeline.derivation.seed(self.keeper.history.read, settings.ingest_districts,
                                            int(time.time() * 1000))
        # What start-up built (modules, settings, rules) lives as long as the process:
        # moved out of the collector's reach, a full collection no longer walks it and
        # stops the event loop for a few ms instead of tens. Readings make little cyclic
        # garbage but much state that lives on (a new sensor's), which the default
        # thresholds walked again and again (docs/performance.md).
        gc.collect()
        gc.freeze()
        gc.set_threshold(*_GC_THRESHOLDS)
        await _connect(self._client, settings.mqtt_host, settings.mqtt_port,
                       f" as {settings.mqtt_username}" if settings.mqtt_username else "")
        flusher = asyncio.create_task(self.pipeline.run(), name="flusher")
        helpers = [asyncio.create_task(self._keep_healthy(), name="health"),
                   asyncio.create_task(self._sweep(), name="sweep"),
                   asyncio.create_task(self._notify(), name="notifications"),
                   asyncio.create_task(self.keeper.roll(self.pipeline.add_point),
                                       name="rollups"),
                   asyncio.create_task(self.changes.run(self.keeper.history.read,
                                                        self.pipeline.add_point),
                                       name="alert-changes"),
                   asyncio.create_task(self._states(), name="states"),
                   asyncio.create_task(self.keeper.snapshots(self.pipeline.add_point),
                                       name="snapshots"),
                   asyncio.create_task(self.metrics.run(settings.ingest_metrics_interval_s),
                                       name="metrics"),
                   asyncio.create_task(self.pipeline.rejection_log.run(), name="rejections"),
                   asyncio.create_task(self._other_log.run(), name="ignored"),
                   asyncio.create_task(self.incidents.run(), name="incidents")]
        stopping = asyncio.create_task(stop.wait(), name="stop")
        # The helpers loop for good: one that ends has failed, and the process with it (its
        # rollups or states would silently stop) rather than run on without it.
        done, _ = await asyncio.wait({flusher, stopping, *helpers},
                                     return_when=asyncio.FIRST_COMPLETED)
        failed = next((task for task in done if task is not stopping), None)
        failure = None if failed is None else (
            failed.exception() or IngestError(f"The {failed.get_name()} task ended."))
        self.pipeline.accepting = False  # what arrives now stays with the broker
        if failure is None:
            log.info("stopping: draining %d pending messages", self.pipeline.pending)
            try:
                await asyncio.wait_for(self._drain(), settings.ingest_drain_timeout_s)
                self._publish_states()
                await asyncio.wait_for(self.outbox.drain(), settings.ingest_drain_timeout_s)
            except TimeoutError:
                log.error("drain did not finish within %.0f s; what is unacknowledged stays "
                          "with the broker", settings.ingest_drain_timeout_s)
        for task in (flusher, stopping, *helpers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(TimeoutError):  # a last pipeline point, if InfluxDB is there
            await asyncio.wait_for(self.writer.write(self.metrics.points()),
                                   LAST_POINTS_TIMEOUT_S)
        self._client.publish(self._status, b"offline", qos=1, retain=True)
        await self._client.disconnect()
        await self.writer.aclose()
        stats = self.pipeline.stats
        log.info("stopped: %d received, %d written, %d rejected", stats.received, stats.written,
                 stats.rejected.total())
        if failed is not None:
            raise IngestError(f"The {failed.get_name()} task failed: {failure!r}.") from failure

    async def _drain(self) -> None:
        """Write what is pending, with the counts of the alert changes still waiting."""
        await self.pipeline.drain()
        while self.changes.waiting:
            for line in await self.changes.read_back(self.keeper.history.read):
                self.pipeline.add_point(line)
            await self.pipeline.drain()

    async def _keep_healthy(self) -> None:
        path = self._settings.ingest_health_file
        while True:
            if path is not None and self.subscribed.is_set():
                Path(path).touch()  # noqa: ASYNC240  (a touch of a local file)
            await asyncio.sleep(_HEALTH_EVERY_S)


def _now_ms() -> int:
    return int(time.time() * 1000)


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


async def serve(settings: IngestSettings) -> None:
    """Run one ingester until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if plain := compiled.interpreted():
        log.warning("%d of the per-reading modules run as Python, not compiled (%s): "
                    "expect about a quarter more CPU per reading", len(plain), ", ".join(plain))
    await Ingester(settings).run(stop)


def main(settings: IngestSettings) -> int:
    """Entry point of `urbanpulse ingest`; returns the exit code."""
    asyncio.run(serve(settings))  # errors reach the command line, which explains them
    return 0
