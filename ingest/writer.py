"""Batched, gzip-compressed writes to InfluxDB's v1 `/write` endpoint, never dropping a point.

Status policy (DESIGN §4):

- 204: written.
- 400 / 422 / 413: split the batch in halves until the refused points are
  isolated; a single refused point is returned to the caller to dead-letter.
  Re-writing points that were already accepted is harmless: the same series
  and timestamp overwrite.
- 401 / 403, 404, 429, 5xx, timeouts, connection errors: retry the same
  request with exponential back-off and full jitter, honouring `Retry-After`.
  Nothing is dropped on auth or availability problems.

The HTTP transport is httpx's: tests inject faults with `httpx.MockTransport`
or a real misbehaving server. Bodies are gzip-compressed with ISA-L (`isal`):
the same gzip format as the standard library's at level 1, in under a third of
its CPU per line (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from isal import igzip

from urbanpulse.errors import ConfigError

log = logging.getLogger(__name__)

_SPLIT = frozenset({400, 413, 422})


def _gzipped(body: bytes) -> bytes:
    """Return `body` gzip-compressed at level 1: about 6x smaller, for little CPU."""
    return igzip.compress(body, compresslevel=1)


@dataclass(slots=True)
class WriteStats:
    """Counters the writer keeps for the pipeline measurement."""

    requests: int = 0
    retries: int = 0
    points_written: int = 0
    points_refused: int = 0
    last_error: str = ""
    retry_reasons: dict[str, int] = field(default_factory=dict)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own back-off


class InfluxWriter:
    """Writes line-protocol batches to one database, retrying until InfluxDB takes them."""

    def __init__(self, *, url: str, database: str, auth: Mapping[str, str], timeout_s: float,
                 retry_max_s: float, client: httpx.AsyncClient | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8",
                   **auth}
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None
        self._url = f"{url}/write"
        self._params = {"db": database, "precision": "ms"}
        self._headers = headers
        self._retry_max_s = retry_max_s
        self._sleep = sleep
        self.stats = WriteStats()

    async def aclose(self) -> None:
        """Close the HTTP client if this writer made it."""
        if self._owns_client:
            await self._client.aclose()

    async def check(self, line: str) -> None:
        """Write `line` once at start-up; raise ConfigError if InfluxDB refuses our settings.

        401/403 (token) and 404 (database) are configuration, not weather: the
        process stops before it subscribes. An unreachable or failing server is
        waited for, as it may still be starting.
        """
        attempt = 0
        while True:
            try:
                response = await self._client.post(self._url, params=self._params,
                                                   headers=self._headers,
                                                   content=_gzipped(line.encode()))
            except httpx.TransportError as exc:
                status, text = 0, f"{type(exc).__name__}: {exc}"
            else:
                status, text = response.status_code, response.text.strip()[:200]
            if status == 204:
                return
            if status in (401, 403):
                raise ConfigError(f"InfluxDB at {self._url} refused our credentials ({status}: "
                                  f"{text}); check URBANPULSE_INFLUX_TOKEN, or "
                                  "URBANPULSE_INFLUX_USERNAME and URBANPULSE_INFLUX_PASSWORD.")
            if status in (400, 404):
                raise ConfigError(f"InfluxDB at {self._url} refused writes to database "
                                  f"{self._params['db']!r} ({status}: {text}); check "
                                  "URBANPULSE_INFLUX_DB.")
            if attempt % 10 == 0:
                log.warning("InfluxDB not ready (%s); waiting", text or status)
            attempt += 1
            await self._sleep(min(self._retry_max_s, 0.2 * 2 ** min(attempt, 6)))

    async def write(self, lines: Sequence[str]) -> list[tuple[int, str]]:
        """Write `lines`; return (index, server message) of each point InfluxDB refused."""
        if not lines:
            return []
        refused = await self._write_range(lines, 0, len(lines))
        self.stats.points_refused += len(refused)
        self.stats.points_written += len(lines) - len(refused)
        return refused

    async def _write_range(self, lines: Sequence[str], low: int, high: int
                           ) -> list[tuple[int, str]]:
        status, message = await self._post("\n".join(lines[low:high]).encode())
        if status not in _SPLIT:
            return []
        if high - low == 1:
            return [(low, f"InfluxDB answered {status}: {message}")]
        middle = (low + high) // 2
        return (await self._write_range(lines, low, middle)
                + await self._write_range(lines, middle, high))

    async def _post(self, body: bytes) -> tuple[int, str]:
        compressed = _gzipped(body)
        attempt = 0
        while True:
            self.stats.requests += 1
            delay: float | None = None
            try:
                response = await self._client.post(self._url, params=self._params,
                                                   headers=self._headers, content=compressed)
            except httpx.TransportError as exc:
                reason = type(exc).__name__
                self.stats.last_error = f"{reason}: {exc}"
            else:
                if response.status_code == 204 or response.status_code in _SPLIT:
                    return response.status_code, response.text.strip()
                reason = str(response.status_code)
                self.stats.last_error = f"{response.status_code}: {response.text.strip()[:200]}"
                delay = _retry_after(response)
            self.stats.retries += 1
            self.stats.retry_reasons[reason] = self.stats.retry_reasons.get(reason, 0) + 1
            if delay is None:
                delay = random.uniform(0, min(self._retry_max_s, 0.1 * 2 ** min(attempt, 16)))
            if attempt % 10 == 0:
                log.warning("InfluxDB write failed (%s); retrying in %.2f s",
                            self.stats.last_error, delay)
            attempt += 1
            await self._sleep(min(delay, self._retry_max_s))
