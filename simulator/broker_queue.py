"""How many messages the broker holds for its consumers, read from mosquitto's `$SYS` tree.

MQTT has no back-pressure from subscribers to publishers: a broker acknowledges
a QoS 1 PUBLISH once it holds it, and queues it for every subscriber's session.
A publisher faster than a subscriber grows that queue up to the broker's limit
(mosquitto's `max_queued_messages`, per client), past which the broker drops
what it cannot queue, and the publisher, already acknowledged, never hears of
it. An unpaced backfill is such a publisher: 17,000 readings a second against
an ingester draining 13,000 lost a fifth of a day's history (docs/performance.md).

`BrokerQueue` follows what mosquitto publishes every `sys_interval` seconds:
the messages in its store (queued for sessions, in flight, and retained) less
the retained ones is what its consumers have not yet taken. Mosquitto sends a
count only when it changed, and its uptime at every report, which marks the
report's moment. Between two reports the queue is estimated as the last
report's, plus what this run sent since, less what the consumers took at the
rate they took it over the interval before (sent and queued then against
queued now). `MqttSink` waits while the estimate is above
URBANPULSE_SIM_MAX_QUEUED, until it is down to half: a run follows a slow
consumer's pace, and a fast consumer (or none) never holds it up. The
broker's count of dropped messages is read too, so a run that overran a
consumer anyway (a broker whose own limit is lower) says so.

A broker that publishes none of this (not mosquitto, `$SYS` off, or an ACL
that hides it) is said once, and the run goes on unpaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv311

from urbanpulse.settings import SimSettings

log = logging.getLogger(__name__)

STORED = "$SYS/broker/store/messages/count"
RETAINED = "$SYS/broker/retained messages/count"
DROPPED = "$SYS/broker/publish/messages/dropped"
UPTIME = "$SYS/broker/uptime"
"""Sent with every report (mosquitto sends a count only when it changed): the report's tick."""
FIRST_REPORT_WAIT_S = 3.0
"""How long to wait for the broker's first counts (mosquitto sends its retained $SYS at once),
and for its last report when the run ends."""
STILL_WAITING_S = 60.0
"""How often a wait that goes on is said again."""


class BrokerQueue:
    """The broker's queued and dropped message counts, and a wait for room below a limit."""

    def __init__(self, client: gmqtt.Client, *, limit: int, stop: asyncio.Event | None,
                 address: str) -> None:
        """Follow the counts `client` receives; `watch` connects one."""
        self.limit = limit
        self.address = address
        self.pauses = 0
        """Times a send waited for the consumers."""
        self.paused_s = 0.0
        """Seconds spent waiting for them."""
        self.rate = 0.0
        """Messages a second the consumers took over the last interval between reports."""
        self._client = client
        self._stop = stop
        self._counts: dict[str, int] = {}
        self._dropped_at_start: int | None = None
        self._dropped_earlier = 0
        self._dropped_seen = False
        """Drops counted over earlier connections (a broker's counter restarts with it)."""
        self._report_at: float | None = None
        """When the last report came (monotonic)."""
        self._sent = 0
        """Messages sent since the last report."""
        self._interval: tuple[int, int, float] | None = None
        """The interval before the last report: queued at its start, sent in it, its length."""
        self._queued_then = 0
        self._report = asyncio.Event()
        """Set by each report (and by a lost connection)."""
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect

    @classmethod
    async def watch(cls, settings: SimSettings, client_id: str, *,
                    stop: asyncio.Event | None = None) -> BrokerQueue | None:
        """Subscribe to the broker's counts; None (said once) when it reports none."""
        address = f"{settings.mqtt_host}:{settings.mqtt_port}"
        client = gmqtt.Client(f"{client_id}-queue-{uuid.uuid4().hex[:6]}", clean_session=True)
        if settings.mqtt_username:
            password = settings.mqtt_password
            client.set_auth_credentials(settings.mqtt_username,
                                        None if password is None else password.get_secret_value())
        queue = cls(client, limit=settings.sim_max_queued, stop=stop, address=address)
        try:
            async with asyncio.timeout(FIRST_REPORT_WAIT_S):
                await client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=30,
                                     version=MQTTv311)
                while not {STORED, RETAINED} <= queue._counts.keys() and not queue._stopping():
                    await queue._next_report()
        except (TimeoutError, OSError, gmqtt.MQTTConnectError) as exc:
            log.warning("The MQTT broker at %s reports no queue depth on %s (%s): readings "
                        "are published without waiting for its consumers, and a consumer "
                        "slower than this run may lose some. Set URBANPULSE_SIM_MAX_QUEUED=0 "
                        "to say so on purpose.", address, STORED,
                        "no answer" if isinstance(exc, TimeoutError) else exc)
            await queue.close()
            return None
        return queue

    @property
    def queued(self) -> int | None:
        """Return the messages the broker held for consumers at its last report."""
        if STORED not in self._counts:
            return None
        return max(0, self._counts[STORED] - self._counts.get(RETAINED, 0))

    @property
    def dropped(self) -> int | None:
        """Return the messages the broker dropped since this watch began, at its last report."""
        if DROPPED in self._counts and self._dropped_at_start is not None:
            return self._dropped_earlier + self._counts[DROPPED] - self._dropped_at_start
        return self._dropped_earlier if self._dropped_seen else None

    def estimate(self) -> float | None:
        """Return the messages queued now by the estimate above; None without a report."""
        queued = self.queued
        if queued is None:
            return None
        since = 0.0 if self._report_at is None else time.monotonic() - self._report_at
        return max(0.0, queued + self._sent - self.rate * since)

    async def wait_for_room(self, count: int) -> None:
        """Wait before `count` more messages while the consumers lag; then count them as sent.

        The wait ends when the estimate is down to half the limit, when the
        counts stop coming (a lost connection) or when the run is asked to stop.
        """
        estimate = self.estimate()
        if estimate is not None and estimate > self.limit and not self._stopping():
            self.pauses += 1
            if self.pauses == 1:
                log.info("Waiting: the broker at %s holds about %d messages for its consumers, "
                         "over URBANPULSE_SIM_MAX_QUEUED (%d); sending again when they have "
                         "taken it down to %d.", self.address, estimate, self.limit,
                         self.limit // 2)
            began = said = time.monotonic()
            while (estimate := self.estimate()) is not None and estimate > self.limit // 2 \
                    and not self._stopping():
                if self.rate > 0:  # until the estimate is down, or the next report
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout((estimate - self.limit // 2) / self.rate):
                            await self._next_report()
                else:
                    await self._next_report()
                if time.monotonic() - said >= STILL_WAITING_S:
                    said = time.monotonic()
                    log.warning("Still waiting after %.0f s: the broker at %s holds about %d "
                                "messages for its consumers, who took %.0f a second lately. "
                                "A session kept for a consumer that is gone holds every run "
                                "back until it expires; SIGINT stops this run, and "
                                "URBANPULSE_SIM_MAX_QUEUED=0 runs without waiting.",
                                said - began, self.address, estimate, self.rate)
            self.paused_s += time.monotonic() - began
        self._sent += count

    async def close(self) -> None:
        """Say what the broker dropped meanwhile, if anything, and disconnect.

        The broker's next report is awaited first (a few seconds at most), so that
        drops of the run's last moments are counted.
        """
        if self._client.is_connected and not self._stopping():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FIRST_REPORT_WAIT_S):
                    await self._next_report()
        if (self.dropped or 0) > 0:
            log.warning("The MQTT broker at %s dropped %d messages during this run (%s): a "
                        "consumer's queue was full. Lower URBANPULSE_SIM_MAX_QUEUED or raise "
                        "the broker's max_queued_messages.", self.address, self.dropped, DROPPED)
        if self.pauses:
            log.info("Waited %d times, %.1f s in all, for the broker's consumers.",
                     self.pauses, self.paused_s)
        self._client.stop_reconnect()  # also for a connection that never came up
        with contextlib.suppress(TimeoutError, OSError, RuntimeError, AttributeError):
            await asyncio.wait_for(self._client.disconnect(), FIRST_REPORT_WAIT_S)

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    async def _next_report(self) -> None:
        """Wait for the next report from the broker, or for the run to be asked to stop."""
        self._report.clear()
        waits = [asyncio.ensure_future(self._report.wait())]
        if self._stop is not None:
            waits.append(asyncio.ensure_future(self._stop.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def _reported(self) -> None:
        """A report began (its uptime): the interval before it ends here."""
        now = time.monotonic()
        if self._report_at is not None:
            self._interval = (self._queued_then, self._sent, now - self._report_at)
        self._report_at, self._sent = now, 0
        self._measured()

    def _measured(self) -> None:
        """Take the consumers' rate over the last interval from the queue now known."""
        queued = self.queued
        if queued is None:
            return
        self._queued_then = queued
        if self._interval is not None:
            before, sent, seconds = self._interval
            self.rate = max(0.0, before + sent - queued) / seconds if seconds > 0 else 0.0

    def _on_connect(self, client: gmqtt.Client, flags: int, result: int,
                    properties: dict[str, Any]) -> None:
        for topic in (UPTIME, STORED, RETAINED, DROPPED):  # again after a reconnection
            client.subscribe(topic, qos=0)

    def _on_message(self, client: gmqtt.Client, topic: str, payload: bytes, qos: int,
                    properties: dict[str, Any]) -> int:
        if topic == UPTIME:  # "N seconds", first in each report
            self._reported()
        else:
            try:
                self._counts[topic] = int(payload)
            except ValueError:
                return 0
            if topic == DROPPED and self._dropped_at_start is None:
                self._dropped_at_start, self._dropped_seen = self._counts[topic], True
            elif topic in (STORED, RETAINED):  # the queue of this report, after its uptime
                self._measured()
        self._report.set()
        return 0

    def _on_disconnect(self, client: gmqtt.Client, packet: bytes,
                       exc: Exception | None = None) -> None:
        # Counts that no longer come in must not hold the run: the publisher's own
        # connection says when the broker is gone.
        self._counts.pop(STORED, None)
        dropped = self.dropped
        self._dropped_earlier = max(0, dropped or 0)
        self._counts.pop(DROPPED, None)
        self._dropped_at_start = None  # the counter may restart with the broker
        self._report_at, self._interval, self.rate = None, None, 0.0
        self._report.set()
