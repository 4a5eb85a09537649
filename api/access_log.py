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
(docs/performance.md). A flood of refused requests cannot drive the log's size
either: the first `BURST` answers of each status of 400 or more per
`INTERVAL_S` get a line, the rest a count, logged with the first request after
the interval (as `urbanpulse.ratelog` does for refused messages). A change that
succeeded always gets its line: it needed a key.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("api.access")

READS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: logged only when refused or failed."""
BURST: Final = 20
"""Answers of each status of 400 or more logged one by one per interval."""
INTERVAL_S: Final = 60.0
"""That interval, and the period of the count of those not logged."""


class AccessLog:
    """Log the requests that change state and the answers of 400 or more (a burst of
    each status per interval, then a count)."""

    def __init__(self, app: ASGIApp, *, burst: int = BURST, interval_s: float = INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self._burst = burst
        self._interval = interval_s
        self._clock = clock
        self._started = clock()
        self._refused: Counter[int] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; log it once its status is known, if it is worth a line."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._refused and self._clock() - self._started >= self._interval:
            self._flush()
        changes = scope["method"] not in READS

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400:
                    self._refusal(scope, status)
                elif changes:
                    _log(scope, status)
            await send(message)

        await self.app(scope, receive, watch)

    def _refusal(self, scope: Scope, status: int) -> None:
        if not self._refused:
            self._started = self._clock()
        self._refused[status] += 1
        count = self._refused[status]
        if count <= self._burst:
            _log(scope, status)
        if count == self._burst:
            logger.info("further answers %d are counted, not logged, for up to %.0f s",
                        status, self._interval)

    def _flush(self) -> None:
        elapsed = self._clock() - self._started
        for status, count in sorted(self._refused.items()):
            if count > self._burst:
                logger.info("%d more answers %d in the last %.0f s (not logged one by one)",
                            count - self._burst, status, elapsed)
        self._refused.clear()


def _log(scope: Scope, status: int) -> None:
    client = scope.get("client")
    where = f"{client[0]}:{client[1]}" if client else "-"
    path = scope.get("path", "")
    query = scope.get("query_string", b"")
    if query:
        path = f"{path}?{query.decode('latin-1')}"
    logger.info('%s - "%s %s HTTP/%s" %d', where, scope["method"], path,
                scope.get("http_version", "1.1"), status)
