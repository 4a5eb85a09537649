"""`GET /health`: is the MQTT broker reachable, and is InfluxDB?"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from api.deps import InfluxDep, SettingsDep
from api.models import Health
from api.probes import probe_influx, probe_mqtt

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Reachability of the MQTT broker and InfluxDB",
    responses={503: {"model": Health, "description": "The broker or InfluxDB is down"}},
)
async def health(settings: SettingsDep, influx: InfluxDep, response: Response) -> Health:
    """Connect to the broker (MQTT CONNECT) and ping InfluxDB, both at once.

    Answers 200 with status `ok` when both answer, else 503 with status `degraded`
    and a sentence per server saying what the probe saw.
    """
    mqtt, influxdb = await asyncio.gather(probe_mqtt(settings), probe_influx(influx))
    is_ok = mqtt.ok and influxdb.ok
    if not is_ok:
        response.status_code = 503
    return Health(status="ok" if is_ok else "degraded", mqtt=mqtt, influxdb=influxdb)
