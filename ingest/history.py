"""Reading raw points back from InfluxDB: the start-up seed and rollup recomputes.

Statements go out in one chunked `/query` request, and each piece of a series
is handed to a callback as it arrives, so a large answer never sits whole in
memory. An unreachable or busy InfluxDB (transport errors, 429, 5xx) is
waited for; a refusal stops the ingester. What the callbacks do must be
idempotent: after a retry they see the same points again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

import httpx
import msgspec

from ingest import IngestError
from urbanpulse.influxql import Series

log = logging.getLogger(__name__)
_CHUNK_ROWS = 10_000

OnSeries = Callable[[int, Series], None]
"""Takes the index of the statement and one piece of one of its series."""


class _Result(msgspec.Struct):
    statement_id: int = 0
    series: list[Series] = []
    error: str | None = None


class _Chunk(msgspec.Struct):
    results: list[_Result] = []
    error: str | None = None


_chunk = msgspec.json.Decoder(_Chunk)


def retry_after(response: httpx.Response) -> float | None:
    """Return the wait a 429 or 503 asked for (`Retry-After` in seconds), None without one."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None  # absent, or an HTTP date: our own back-off


class _Unavailable(Exception):  # noqa: N818  (internal: caught below, never escapes)
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        """How long the server asked us to wait (`Retry-After`, in seconds), if it said."""


class History:
    """Runs read-only InfluxQL statements against the ingester's database."""

    def __init__(self, *, url: str, database: str, headers: Mapping[str, str],
                 timeout_s: float, retry_max_s: float) -> None:
        self._url = f"{url.rstrip('/')}/query"
        self._database = database
        self._headers = dict(headers)
        self._timeout_s = timeout_s
        self._retry_max_s = retry_max_s

    async def read(self, statements: Sequence[str], on_series: OnSeries) -> None:
        """Run `statements`, handing each series piece to `on_series`; wait out outages.

        Raises:
            IngestError: InfluxDB refused the statements (no read rights, a bad query).
        """
        attempt = 0
        while True:
            try:
                await self._read_once(statements, on_series)
                return
            except _Unavailable as exc:
                delay = exc.retry_after_s
                if delay is None:
                    delay = 0.2 * 2 ** min(attempt, 6)
                delay = min(self._retry_max_s, delay)
                if attempt % 10 == 0:
                    log.warning("%s Waiting %.2f s before reading it again.", exc, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _read_once(self, statements: Sequence[str], on_series: OnSeries) -> None:
        data = {"db": self._database, "q": ";".join(statements), "epoch": "ms",
                "chunked": "true", "chunk_size": str(_CHUNK_ROWS)}
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client, client.stream(
                    "POST", self._url, headers=self._headers, data=data) as response:
                if response.status_code in (401, 403):
                    raise IngestError(
                        f"InfluxDB at {self._url} refused to let the ingester read raw points "
                        f"({response.status_code}); the ingester's user needs read as well "
                        f"as write rights on database {self._database!r}.")
                if response.status_code == 429 or response.status_code >= 500:
                    body = (await response.aread())[:200].decode(errors="replace")
                    raise _Unavailable(f"InfluxDB at {self._url} could not answer now "
                                       f"({response.status_code}: {body}).",
                                       retry_after(response))
                if response.status_code != 200:
                    body = (await response.aread())[:200].decode(errors="replace")
                    raise IngestError(f"InfluxDB at {self._url} failed a seed query "
                                      f"({response.status_code}: {body}).")
                async for line in response.aiter_lines():
                    if line.strip():
                        self._handle(_chunk.decode(line), on_series)
        except httpx.TransportError as exc:
            raise _Unavailable(f"Could not read raw points from InfluxDB at {self._url}: "
                               f"{type(exc).__name__}: {exc}.") from None

    def _handle(self, chunk: _Chunk, on_series: OnSeries) -> None:
        failure = chunk.error or next((result.error for result in chunk.results
                                       if result.error), None)
        if failure:
            raise IngestError(f"InfluxDB at {self._url} failed a seed query: {failure}.")
        for result in chunk.results:
            for series in result.series:
                on_series(result.statement_id, series)
