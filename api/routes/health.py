"""`GET /health`: is the MQTT broker reachable, is InfluxDB, and is the latest state loaded?"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from api.deps import InfluxDep, SettingsDep
from api.models import Health
from api.probes import probe_exports, probe_influx, probe_mqtt, probe_state

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Reachability of the MQTT broker and InfluxDB",
    responses={503: {"model": Health, "description": "The broker or InfluxDB is down"}},
)
async def health(settings: SettingsDep, influx: InfluxDep, request: Request,
                 response: Response) -> Health:
    """Connect to the broker (MQTT CONNECT) and ping InfluxDB, both at once, and say
    whether the latest state in memory is loaded, and how far the exports' settled
    hours are rendered ahead.

    Answers 200 with status `ok` when both answer and the state is loaded (or not
    kept: then every route reads InfluxDB), else 503 with status `degraded` and a
    sentence per check saying what it saw.
    """
    mqtt, influxdb = await asyncio.gather(probe_mqtt(settings), probe_influx(influx))
    state = probe_state(getattr(request.app.state, "live", None))
    is_ok = mqtt.ok and influxdb.ok and state.ok
    if not is_ok:
        response.status_code = 503
    return Health(status="ok" if is_ok else "degraded", mqtt=mqtt, influxdb=influxdb,
                  state=state, exports=probe_exports(getattr(request.app.state,
                                                             "export_warmer", None)))
