"""Dependencies of the routes, as `Annotated` aliases.

`SettingsDep`, `InfluxDep`, `StoreDep`, `AlertStoreDep`, `LiveDep` (the latest
state in memory, or None while it is not loaded or not kept), `AckLedgerDep`
(the app's one `AckLedger`), and `ApiKeyDep`, which admits a request only with the
configured key in its `X-API-Key` header.

The settings live on `app.state`, put there by `api.main.create_app`; nothing is
read at import time. While the app's lifespan runs (under uvicorn) every request
shares one InfluxDB connection pool; an app driven without its lifespan (a bare
ASGI call) gets a client per request.

The routes the latest state answers take only `LiveDep` and open InfluxDB with
`influx_for` when the state is not loaded: a dependency that yields (`InfluxDep`)
costs FastAPI more per request than such a route's whole answer from memory.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from api.acks import AckLedger
from api.alert_store import AlertStore
from api.influx import InfluxQuery, open_influx
from api.live import LiveState
from api.store import SensorStore
from urbanpulse.settings import ApiSettings


async def get_settings(request: Request) -> ApiSettings:
    """Return the settings the app was created with."""
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


@asynccontextmanager
async def influx_for(request: Request) -> AsyncIterator[InfluxQuery]:
    """Open the app's shared InfluxQL client, or a per-request one outside the lifespan."""
    shared: InfluxQuery | None = getattr(request.app.state, "influx", None)
    if shared is not None:
        yield shared
        return
    async with open_influx(request.app.state.settings) as influx:
        yield influx


async def get_influx(request: Request) -> AsyncIterator[InfluxQuery]:
    """Yield the app's shared InfluxQL client, or a per-request one outside the lifespan."""
    async with influx_for(request) as influx:
        yield influx


InfluxDep = Annotated[InfluxQuery, Depends(get_influx)]


async def get_store(influx: InfluxDep) -> SensorStore:
    """Return a sensor store over the request's InfluxQL client."""
    return SensorStore(influx)


StoreDep = Annotated[SensorStore, Depends(get_store)]


async def get_alert_store(influx: InfluxDep) -> AlertStore:
    """Return an alert store over the request's InfluxQL client."""
    return AlertStore(influx)


AlertStoreDep = Annotated[AlertStore, Depends(get_alert_store)]


async def get_live(request: Request) -> LiveState | None:
    """Return the app's latest state once it is loaded, else None (routes then read InfluxDB)."""
    live: LiveState | None = getattr(request.app.state, "live", None)
    return live if live is not None and live.loaded else None


LiveDep = Annotated[LiveState | None, Depends(get_live)]


async def get_ack_ledger(request: Request) -> AckLedger:
    """Return the app's ack ledger, made on first use (one per app, so one per worker)."""
    ledger: AckLedger | None = getattr(request.app.state, "ack_ledger", None)
    if ledger is None:
        ledger = request.app.state.ack_ledger = AckLedger()
    return ledger


AckLedgerDep = Annotated[AckLedger, Depends(get_ack_ledger)]

API_KEY_HEADER = "X-API-Key"
_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey",
    description="The key set in URBANPULSE_API_KEY on the server",
)


def require_api_key(settings: SettingsDep,
                    given: Annotated[str | None, Security(_api_key_header)]) -> None:
    """Admit the request only with the configured key in `X-API-Key`.

    Raises:
        HTTPException: 503 when the server has no key configured, 401 without
            the header, 403 with a wrong key (compared in constant time).
    """
    if settings.api_key is None:
        raise HTTPException(
            status_code=503,
            detail="This server has no API key configured (URBANPULSE_API_KEY), "
                   "so it accepts no acknowledgements.")
    if not given:
        raise HTTPException(
            status_code=401, headers={"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'},
            detail=f"Acknowledging an alert needs an API key in the {API_KEY_HEADER} header.")
    expected = settings.api_key.get_secret_value().encode()
    if not hmac.compare_digest(given.encode(), expected):
        raise HTTPException(status_code=403,
                            detail=f"The API key in the {API_KEY_HEADER} header is not valid.")


ApiKeyDep = Depends(require_api_key)
