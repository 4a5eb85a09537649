"""The FastAPI application: `create_app(settings)` builds it, `main(settings)` serves it.

Settings are passed in, never read at import time. The app's lifespan opens one
HTTP client for InfluxDB and, when the api has the alert key to check the
ingester's signatures, keeps the city's latest state in memory
(`api.live`, fed by `api.follow`) with what the district summaries read of
history (`api.district_summary.renew_summaries`); it renders the exports'
settled hours ahead (`api.warm_exports`). All end on shutdown. Errors of the servers behind
the api become responses with a sentence: InfluxDB or the MQTT broker
unreachable is 503, a query InfluxDB refused is 502, an acknowledgement or an
incident transition the ingester did not confirm in time is 504.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from api.access_log import AccessLog
from api.district_summary import renew_summaries, sections
from api.errors import (
    AckTimeoutError,
    ApiError,
    BrokerUnavailableError,
    InfluxQueryError,
    InfluxUnavailableError,
    TransitionTimeoutError,
)
from api.follow import StateFollower
from api.influx import InfluxQuery, InfluxTransport, open_influx
from api.limits import BodyLimit
from api.live import LiveState
from api.models import json_error
from api.open_data import HourPieces
from api.routes import alerts, districts, export, health, incidents, sensors, views
from api.swagger import serve_docs
from api.warm_exports import ExportWarmer
from urbanpulse import __version__
from urbanpulse.settings import ApiSettings

logger = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STATUS: tuple[tuple[type[ApiError], int], ...] = (
    (InfluxUnavailableError, 503), (InfluxQueryError, 502),
    (BrokerUnavailableError, 503), (AckTimeoutError, 504), (TransitionTimeoutError, 504),
)
BODY_TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: json_error("The request body is over URBANPULSE_API_MAX_BODY_BYTES bytes "
                    "(checked on every request, whether or not the route reads a body)"),
}
"""The 413 of `BodyLimit`, documented on every operation since it guards them all."""
SHUTDOWN_GRACE_S = 3
"""Longest uvicorn waits for open requests (alert streams never end) when stopping."""

DESCRIPTION = """\
Sensor metadata, latest values and time series of the UrbanPulse simulated city
(the latest state from memory, fed by MQTT; history from InfluxDB); district
summaries with a section per sensor kind, the kinds' views (such as parking
guidance) and the open-data export of hourly aggregates; alerts (list, history,
acknowledgement, live stream as server-sent events); incidents, the related alerts of
one district and department (list, detail with audit trail, stage transitions, live
stream); and the health of the broker and the database.
Every 422 names the offending parameter in `detail[].loc`. Request bodies are
limited in size on every operation (413). Keys go in the `X-API-Key` header:
acknowledging an alert needs the ack key or the operator key, reading incidents the
viewer key or the operator key, moving an incident the operator key.
"""


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer with the status of the server error (`_STATUS`) and its sentence."""
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    logger.warning("%s %s answered %d: %s", request.method, request.url.path, status, exc)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def create_app(settings: ApiSettings, *,
               influx_transport: InfluxTransport | None = None) -> FastAPI:
    """Build the api for `settings`.

    Args:
        settings: The api's settings; the routes read them through `SettingsDep`.
        influx_transport: Talk to InfluxDB through this transport instead of HTTP
            (tests inject a failing one).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if influx_transport is not None:
            yield
            return
        async with open_influx(settings) as influx:
            app.state.influx = influx
            warmer = None
            if settings.api_export_cache_mb > 0:
                warmer = app.state.export_warmer = ExportWarmer(influx, app.state.export_pieces)
                warmer.start()
            key = settings.alert_key_bytes()
            follower = renewer = None
            if key is not None:  # else no way to tell the ingester's states from forged ones
                live = app.state.live = LiveState(
                    root=settings.topic_root, alert_key=key,
                    incidents_kept_ms=settings.api_max_range_s * 1000)
                follower = StateFollower(settings, live, influx)
                follower.start()
                renewer = asyncio.create_task(renew_summaries(influx, live, sections()),
                                              name="summary-history")
            try:
                yield
            finally:
                if renewer is not None:
                    renewer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renewer
                if follower is not None:
                    await follower.stop()
                    del app.state.live
                if warmer is not None:
                    await warmer.stop()
                    del app.state.export_warmer
                del app.state.influx

    app = FastAPI(title="UrbanPulse API", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    serve_docs(app)  # Swagger UI from a package, not a CDN
    app.state.settings = settings
    app.state.export_pieces = HourPieces(settings.api_export_cache_mb * 1_000_000)
    if influx_transport is not None:
        app.state.influx = InfluxQuery(influx_transport, settings.influx_db)
    app.add_exception_handler(ApiError, _server_error)
    app.include_router(health.router, responses=BODY_TOO_LARGE)
    for router in (sensors.router, districts.build_router(), views.build_router(),
                   export.router, alerts.router, incidents.router):
        app.include_router(router, prefix="/v1", responses=BODY_TOO_LARGE)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    if settings.api_access_log == "changes":  # outside the limit: its 413s are logged too
        app.add_middleware(AccessLog)
    if settings.api_cors_origins:
        # Added last, so it runs first: preflights and refusals (413) carry its headers too.
        app.add_middleware(CORSMiddleware, allow_origins=settings.api_cors_origins,
                           allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-API-Key"])
    return app


def main(settings: ApiSettings) -> int:
    """Serve the api on `settings.api_host:api_port` until SIGINT or SIGTERM.

    Returns 0 after a graceful shutdown, or uvicorn's non-zero code when it could
    not start (for example, the port is taken).
    """
    config = uvicorn.Config(create_app(settings), host=settings.api_host,
                            port=settings.api_port, lifespan="on", log_level="info",
                            access_log=settings.api_access_log == "all",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    server = uvicorn.Server(config)
    with _stop_on_signals(server):
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits this way when it cannot bind or start up
            return exc.code if isinstance(exc.code, int) else 1
    return 0


@contextmanager
def _stop_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """Make SIGINT/SIGTERM stop `server` gracefully and let `main` return afterwards.

    uvicorn handles both signals while it serves, then restores the handlers it
    found and raises the signal again, which would end the process by the signal
    (or raise KeyboardInterrupt). The handler installed here asks the server to
    exit instead, which also covers a signal that arrives before uvicorn listens.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, frame: FrameType | None) -> None:
        logger.info("Stopping on %s.", signal.Signals(signum).name)
        server.should_exit = True

    previous = {signum: signal.signal(signum, note) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
