"""Dependencies of the routes, as `Annotated` aliases (`SettingsDep`, `InfluxDep`, `StoreDep`).

The settings live on `app.state`, put there by `api.main.create_app`; nothing is
read at import time. While the app's lifespan runs (under uvicorn) every request
shares one InfluxDB connection pool; an app driven without its lifespan (a bare
ASGI call) gets a client per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from api.influx import InfluxQuery, open_influx
from api.store import SensorStore
from urbanpulse.settings import ApiSettings


def get_settings(request: Request) -> ApiSettings:
    """Return the settings the app was created with."""
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


async def get_influx(request: Request, settings: SettingsDep) -> AsyncIterator[InfluxQuery]:
    """Yield the app's shared InfluxQL client, or a per-request one outside the lifespan."""
    shared: InfluxQuery | None = getattr(request.app.state, "influx", None)
    if shared is not None:
        yield shared
        return
    async with open_influx(settings) as influx:
        yield influx


InfluxDep = Annotated[InfluxQuery, Depends(get_influx)]


def get_store(influx: InfluxDep) -> SensorStore:
    """Return a sensor store over the request's InfluxQL client."""
    return SensorStore(influx)


StoreDep = Annotated[SensorStore, Depends(get_store)]
