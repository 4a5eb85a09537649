"""Keep `api.live.LiveState` current: one seed from InfluxDB, then MQTT for good.

At start-up the follower subscribes, on one long-lived gmqtt connection with a
clean session, to the retained births (`{root}/sensors/+/+/+`), the district
states the ingester publishes every few seconds (`{root}/state/+`), the
alert states (`{root}/alerts/+/+/+/+`) and the incident states
(`{root}/incidents/+/+`); the broker sends the retained ones first. At the
same time it reads InfluxDB once: the newest birth of every sensor, the newest
reading of each within `SEED_LOOKBACK_MS` (or three of its intervals, if
longer), the active alerts, and the newest state of every alert and incident
that changed lately (`api.recent`: the lists up to now). Both feed the same
state, newer wins, so their order does not matter. Once the seed is in, the state is
`loaded` and the routes answer from it; a seed that fails (InfluxDB down) is
tried again every `SEED_RETRY_S` seconds. A lost broker connection is
reconnected by gmqtt, which subscribes again and gets the retained messages
anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any, Final

import gmqtt
from gmqtt.mqtt.constants import MQTTv311

from api.alert_store import AlertStore
from api.broker import CONNECT_TIMEOUT_S, new_client
from api.errors import InfluxError
from api.incident_store import IncidentStore
from api.influx import InfluxQuery
from api.live import LiveState
from api.models import Sensor
from api.store import SensorStore
from urbanpulse.influxql import quote_identifier, time_from, where
from urbanpulse.kinds.summaries import DAY_MS, STALE_FACTOR
from urbanpulse.messages import SensorState
from urbanpulse.settings import ApiSettings
from urbanpulse.topics import (
    INCIDENTS,
    Channel,
    alert_subscription,
    incident_subscription,
    state_subscription,
    subscription,
)

logger = logging.getLogger(__name__)

SEED_LOOKBACK_MS: Final = DAY_MS
"""How far back the seed looks for a sensor's newest reading, at least."""
SEED_RETRY_S: Final = 5.0
"""Pause between seeds that failed, and between attempts to reach the broker."""
_NOT_VALUES: Final = frozenset({"time", "seq", "sensor", "district"})


def _now_ms() -> int:
    return int(time.time() * 1000)


async def seed(influx: InfluxQuery, state: LiveState, *, now_ms: int) -> None:
    """Put InfluxDB's newest births, readings, alerts and incidents into `state`.

    Raises:
        InfluxError: InfluxDB is unreachable or refused a query.
    """
    births = await SensorStore(influx).births()
    for sensor in births:
        state.add_birth(sensor)
    by_kind: dict[str, list[Sensor]] = {}
    for sensor in births:
        by_kind.setdefault(sensor.kind, []).append(sensor)
    for kind, sensors in by_kind.items():
        await _seed_readings(influx, state, kind, sensors, now_ms=now_ms)
    alerts = AlertStore(influx)
    since_ms = now_ms - state.recent_alerts.keep_ms
    for alert in await alerts.changed(start_ms=since_ms, end_ms=now_ms + 1):
        state.add_alert(alert)
    state.recent_alerts.seeded(since_ms)
    for alert in await alerts.active(district=None, end_ms=now_ms):
        state.add_alert(alert)
    since_ms = now_ms - state.recent_incidents.keep_ms
    for incident in await IncidentStore(influx).changed(start_ms=since_ms, end_ms=now_ms + 1):
        state.add_incident(incident)
    state.recent_incidents.seeded(since_ms)


async def _seed_readings(influx: InfluxQuery, state: LiveState, kind: str,
                         sensors: Sequence[Sensor], *, now_ms: int) -> None:
    """Put the newest reading of every sensor of `kind` within the lookback into `state`."""
    lookback = max(SEED_LOOKBACK_MS,
                   STALE_FACTOR * max(sensor.interval_s for sensor in sensors) * 1000)
    series = await influx.query(
        f"SELECT * FROM {quote_identifier(kind)}"
        f"{where(time_from(now_ms - lookback), f'time <= {now_ms}ms')} "
        f"GROUP BY {quote_identifier('sensor')} ORDER BY time DESC LIMIT 1")
    for one in series:
        sensor = one.tags.get("sensor")
        for row in one.rows():
            seq = row.get("seq")
            values = {name: value for name, value in row.items()
                      if name not in _NOT_VALUES and isinstance(value, int | float | str)}
            if sensor and isinstance(row.get("time"), int):
                state.add_reading(sensor, SensorState(
                    ts=row["time"], seq=int(seq) if isinstance(seq, int | float) else 0,
                    values=values))


class StateFollower:
    """Feeds a `LiveState` from InfluxDB once and from MQTT after: `start`, then `stop`."""

    def __init__(self, settings: ApiSettings, state: LiveState, influx: InfluxQuery) -> None:
        self._settings = settings
        self._state = state
        self._influx = influx
        root = settings.topic_root
        self._prefixes = {
            Channel.SENSORS: f"{root}/{Channel.SENSORS.value}/",
            Channel.STATE: f"{root}/{Channel.STATE.value}/",
            Channel.ALERTS: f"{root}/{Channel.ALERTS.value}/",
        }
        self._incidents = f"{root}/{INCIDENTS}/"
        self._filters = (subscription(Channel.SENSORS, root=root), state_subscription(root=root),
                         alert_subscription(root=root), incident_subscription(root=root))
        self._client = new_client(settings, "state", reconnects=True)
        self._client.set_config({"reconnect_delay": SEED_RETRY_S})
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = False

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, properties: Any) -> None:
        self.connected = True
        for topic_filter in self._filters:
            client.subscribe(topic_filter, qos=1)

    def _on_disconnect(self, client: gmqtt.Client, packet: bytes,
                       exc: Exception | None = None) -> None:
        self.connected = False

    def _on_message(self, client: gmqtt.Client, topic: str, payload: bytes, qos: int,
                    properties: dict[str, Any]) -> int:
        state, prefixes = self._state, self._prefixes
        if topic.startswith(prefixes[Channel.STATE]):
            state.on_state(topic, payload)
        elif topic.startswith(prefixes[Channel.ALERTS]):
            state.on_alert(topic, payload)
        elif topic.startswith(prefixes[Channel.SENSORS]):
            state.on_birth(topic, payload, now_ms=_now_ms())
        elif topic.startswith(self._incidents):
            state.on_incident(topic, payload)
        return 0

    async def _connect(self) -> None:
        settings = self._settings
        while True:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    await self._client.connect(settings.mqtt_host, settings.mqtt_port,
                                               keepalive=30, version=MQTTv311)
                return
            except (OSError, TimeoutError, gmqtt.MQTTConnectError) as exc:
                logger.warning("The MQTT broker at %s:%d is out of reach (%s); the latest "
                               "state follows it once it answers.", settings.mqtt_host,
                               settings.mqtt_port, exc)
            await asyncio.sleep(SEED_RETRY_S)

    async def _seed(self) -> None:
        while True:
            try:
                await seed(self._influx, self._state, now_ms=_now_ms())
            except InfluxError as exc:
                logger.warning("Could not seed the latest state from InfluxDB (%s); trying "
                               "again in %g s.", exc, SEED_RETRY_S)
                await asyncio.sleep(SEED_RETRY_S)
                continue
            self._state.mark_loaded(_now_ms())
            logger.info("latest state seeded: %s", dict(self._state.describe()))
            return

    def start(self) -> None:
        """Connect to the broker and seed from InfluxDB, both in the background.

        A third task logs, once a minute, how many refused messages went unlogged.
        """
        self._tasks = [asyncio.create_task(self._connect()), asyncio.create_task(self._seed()),
                       asyncio.create_task(self._state.ignored_log.run())]

    async def stop(self) -> None:
        """Stop seeding and counting, and leave the broker."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.connected:
            with contextlib.suppress(OSError, RuntimeError, TimeoutError):
                await asyncio.wait_for(self._client.disconnect(), CONNECT_TIMEOUT_S)
