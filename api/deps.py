"""Dependencies of the routes, as `Annotated` aliases.

`SettingsDep`, `InfluxDep`, `StoreDep`, `AlertStoreDep`, `LiveDep` (the latest
state in memory, or None while it is not loaded or not kept), `AckLedgerDep`
(the app's one `AckLedger`), and the keys a request must carry in its
`X-API-Key` header, least privilege first (docs/security.md, "Keys"):

| dependency | admits | for |
|---|---|---|
| `ViewerKeyDep` | the viewer key or the operator key | reading incidents |
| `ApiKeyDep` | the ack key (`URBANPULSE_API_KEY`) or the operator key | acknowledging alerts |
| `OperatorKeyDep` | the operator key only | moving incidents |

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
from pydantic import SecretStr

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
    description="A key set on the server: URBANPULSE_API_KEY acknowledges alerts, "
                "URBANPULSE_API_VIEWER_KEY reads incidents, URBANPULSE_API_OPERATOR_KEY "
                "does both and moves incidents",
)
GivenKey = Annotated[str | None, Security(_api_key_header)]


def _is_one_of(given: str, *keys: SecretStr | None) -> bool:
    """Tell whether `given` is one of the configured `keys`, each compared in constant time."""
    matches = [hmac.compare_digest(given.encode(), key.get_secret_value().encode())
               for key in keys if key is not None]
    return any(matches)


def _missing(action: str, key: str) -> HTTPException:
    return HTTPException(
        status_code=401, headers={"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'},
        detail=f"{action} needs {key} in the {API_KEY_HEADER} header.")


def require_api_key(settings: SettingsDep, given: GivenKey) -> None:
    """Admit the request only with the ack key or the operator key in `X-API-Key`.

    Raises:
        HTTPException: 503 when the server has neither key configured, 401 without
            the header, 403 with another key (compared in constant time).
    """
    if settings.api_key is None and settings.api_operator_key is None:
        raise HTTPException(
            status_code=503,
            detail="This server has no API key configured (URBANPULSE_API_KEY), "
                   "so it accepts no acknowledgements.")
    if not given:
        raise _missing("Acknowledging an alert", "an API key")
    if not _is_one_of(given, settings.api_key, settings.api_operator_key):
        raise HTTPException(status_code=403,
                            detail=f"The API key in the {API_KEY_HEADER} header is not valid.")


ApiKeyDep = Depends(require_api_key)


def require_viewer_key(settings: SettingsDep, given: GivenKey) -> None:
    """Admit the request only with the viewer key or the operator key in `X-API-Key`.

    Raises:
        HTTPException: 503 when the server has neither configured, 401 without the
            header, 403 with any other key.
    """
    if settings.api_viewer_key is None and settings.api_operator_key is None:
        raise HTTPException(
            status_code=503,
            detail="This server has no viewer or operator key configured "
                   "(URBANPULSE_API_VIEWER_KEY, URBANPULSE_API_OPERATOR_KEY), so it shows "
                   "no incidents.")
    if not given:
        raise _missing("Reading incidents", "the viewer or the operator key")
    if not _is_one_of(given, settings.api_viewer_key, settings.api_operator_key):
        raise HTTPException(status_code=403,
                            detail=f"The key in the {API_KEY_HEADER} header is neither the "
                                   "viewer nor the operator key.")


ViewerKeyDep = Depends(require_viewer_key)


def require_operator_key(settings: SettingsDep, given: GivenKey) -> None:
    """Admit the request only with the operator key in `X-API-Key`.

    Raises:
        HTTPException: 503 when the server has no operator key, 401 without the
            header, 403 with any other key (the viewer key says so).
    """
    if settings.api_operator_key is None:
        raise HTTPException(
            status_code=503,
            detail="This server has no operator key configured (URBANPULSE_API_OPERATOR_KEY), "
                   "so it accepts no incident transitions.")
    if not given:
        raise _missing("Moving an incident", "the operator key")
    if _is_one_of(given, settings.api_operator_key):
        return
    if _is_one_of(given, settings.api_viewer_key):
        raise HTTPException(status_code=403,
                            detail="The viewer key only reads incidents; moving one needs "
                                   "the operator key.")
    raise HTTPException(status_code=403,
                        detail=f"The key in the {API_KEY_HEADER} header is not the operator "
                               "key.")


OperatorKeyDep = Depends(require_operator_key)
