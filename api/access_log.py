"""`AccessLog`: a pure ASGI middleware that logs the requests worth a line.

Which requests the api logs is `URBANPULSE_API_ACCESS_LOG`:

- `changes` (the default): every request that may change state (any method but
  GET, HEAD and OPTIONS: acknowledgements, incident transitions) and every
  answer of 400 or more (a refused key, a bad parameter, a server error), one
  line each in uvicorn's access format, on the logger `api.access`;
- `all`: uvicorn's own access log, a line for every request;
- `none`: no access lines.

The reads that succeed are left out by default because they are most of the
traffic and a line costs more than their answer: with uvicorn's access log on,
`/v1/sensors/{id}` from memory served about a quarter fewer requests a second
(docs/performance.md).
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("api.access")

READS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: logged only when refused or failed."""


class AccessLog:
    """Log the requests that change state and the answers of 400 or more."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; log it once its status is known, if it is worth a line."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        changes = scope["method"] not in READS

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and (changes or message["status"] >= 400):
                _log(scope, message["status"])
            await send(message)

        await self.app(scope, receive, watch)


def _log(scope: Scope, status: int) -> None:
    client = scope.get("client")
    where = f"{client[0]}:{client[1]}" if client else "-"
    path = scope.get("path", "")
    query = scope.get("query_string", b"")
    if query:
        path = f"{path}?{query.decode('latin-1')}"
    logger.info('%s - "%s %s HTTP/%s" %d', where, scope["method"], path,
                scope.get("http_version", "1.1"), status)
