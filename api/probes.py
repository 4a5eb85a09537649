"""Probes for `/health`: a real MQTT CONNECT, InfluxDB's `/ping`, and the latest state.

Each probe returns a `Check` with a sentence saying what it saw; none raises
for a server that is down, since a down server is what the probe reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import gmqtt
from gmqtt.mqtt.constants import MQTTv311

from api.errors import InfluxError
from api.influx import InfluxQuery
from api.live import LiveState
from api.models import Check
from api.warm_exports import ExportWarmer
from urbanpulse.settings import ApiSettings

PROBE_TIMEOUT_S = 3.0
"""Longest one probe waits for its server."""


class _ProbeClient(gmqtt.Client):  # type: ignore[misc]  # gmqtt ships no type hints
    """A gmqtt client that never reconnects: a probe connects once and reports."""

    async def reconnect(self, delay: bool = False) -> None:
        """Do nothing; gmqtt would otherwise retry in the background after the probe ended."""


async def probe_mqtt(settings: ApiSettings) -> Check:
    """Connect to the broker with the api's credentials and a clean session, then leave."""
    timeout = PROBE_TIMEOUT_S
    where = f"MQTT broker at {settings.mqtt_host}:{settings.mqtt_port}"
    client = _ProbeClient(f"urbanpulse-api-health-{uuid.uuid4().hex[:12]}", clean_session=True)
    if settings.mqtt_username is not None:
        password = settings.mqtt_password
        client.set_auth_credentials(settings.mqtt_username,
                                    None if password is None else password.get_secret_value())
    try:
        async with asyncio.timeout(timeout):
            await client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=int(timeout) + 1,
                                 version=MQTTv311)
    except TimeoutError:
        return Check(ok=False,
                     detail=f"{where} did not complete an MQTT connection within {timeout:g} s.")
    except gmqtt.MQTTConnectError as exc:
        return Check(ok=False, detail=f"{where} refused the connection: {exc}.")
    except OSError as exc:
        return Check(ok=False, detail=f"{where} is unreachable: {exc.strerror or exc}.")
    finally:
        await _leave(client)
    return Check(ok=True, detail=f"{where} accepted a connection.")


async def _leave(client: gmqtt.Client) -> None:
    """Disconnect, or just close the socket when the connection is already broken."""
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(client.disconnect(), PROBE_TIMEOUT_S)


async def probe_influx(influx: InfluxQuery) -> Check:
    """Check InfluxDB's `/ping` answers 204."""
    try:
        return Check(ok=True, detail=await influx.ping())
    except InfluxError as exc:
        return Check(ok=False, detail=str(exc))


def probe_state(live: LiveState | None) -> Check:
    """Say whether the latest state in memory is loaded, and what it holds."""
    if live is None:
        return Check(ok=True, detail="The latest state is not kept in memory (no lifespan or "
                                     "no URBANPULSE_ALERT_KEY): every route reads InfluxDB.")
    counts = ", ".join(f"{name} {n}" for name, n in live.describe().items())
    if not live.loaded:
        return Check(ok=False, detail=f"The latest state is loading: InfluxDB has not seeded "
                                      f"it yet; routes read InfluxDB meanwhile ({counts}).")
    return Check(ok=True, detail=f"The latest state is loaded and follows MQTT ({counts}).")


def probe_exports(warmer: ExportWarmer | None) -> Check:
    """Say what the export warmer keeps rendered; informative only, always ok."""
    if warmer is None:
        return Check(ok=True, detail="The exports' settled hours are not rendered ahead (no "
                                     "lifespan or URBANPULSE_API_EXPORT_CACHE_MB=0).")
    return Check(ok=True, detail=warmer.describe())
