"""A small async InfluxQL client over InfluxDB's v1-compatible HTTP API.

`InfluxQuery` sends one statement to `GET /query` (with `db` and `epoch=ms`) and
returns its series; `ping` checks `GET /ping`. The I/O sits behind the
one-method `InfluxTransport` protocol: `HttpxTransport` is the real one and
`FakeTransport` beside it answers with a canned response or error, so tests can
inject a server that fails. The same requests work on InfluxDB 1.x and on 2.x
through its v1 compatibility API, with Basic auth (a v1 user) or `Authorization: Token`.

Statements are built by the callers with `urbanpulse.influxql`, never by pasting
raw text into a query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import httpx
import msgspec

from api.errors import InfluxQueryError, InfluxUnavailableError
from urbanpulse.influxql import Series
from urbanpulse.settings import ApiSettings


@dataclass(frozen=True, slots=True)
class InfluxResponse:
    """What a transport got back: status, body and lowercase header names."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


class InfluxTransport(Protocol):
    """Sends one GET request to InfluxDB; raises InfluxUnavailableError when it cannot."""

    async def get(self, path: str, params: Mapping[str, str]) -> InfluxResponse:
        """Send `GET path?params` and return the response, whatever its status."""
        ...


class HttpxTransport:
    """The real transport: an `httpx.AsyncClient` with InfluxDB's base URL and token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def get(self, path: str, params: Mapping[str, str]) -> InfluxResponse:
        """Send `GET path?params`, turning connection failures and timeouts into errors."""
        url = f"{self._client.base_url}".rstrip("/") + path
        try:
            response = await self._client.get(path, params=dict(params))
        except httpx.TimeoutException:
            raise InfluxUnavailableError(
                f"InfluxDB at {url} did not answer within {self._client.timeout.read} s."
            ) from None
        except httpx.TransportError as exc:
            raise InfluxUnavailableError(
                f"InfluxDB at {url} is unreachable: {str(exc) or type(exc).__name__}."
            ) from None
        headers = {name.lower(): value for name, value in response.headers.items()}
        return InfluxResponse(response.status_code, response.content, headers)


class FakeTransport:
    """A transport that answers every request with `response`, or raises `error`.

    Every request is recorded in `requests` as `(path, params)`.
    """

    def __init__(self, response: InfluxResponse | None = None,
                 error: Exception | None = None) -> None:
        self.response = response or InfluxResponse(204)
        self.error = error
        self.requests: list[tuple[str, dict[str, str]]] = []

    async def get(self, path: str, params: Mapping[str, str]) -> InfluxResponse:
        """Record the request, then raise the configured error or return the response."""
        self.requests.append((path, dict(params)))
        if self.error is not None:
            raise self.error
        return self.response


class _Result(msgspec.Struct, frozen=True):
    series: list[Series] = []
    error: str | None = None


class _Body(msgspec.Struct, frozen=True):
    results: list[_Result] = []
    error: str | None = None


_body_decoder = msgspec.json.Decoder(_Body)


class InfluxQuery:
    """Runs InfluxQL statements against one database through a transport."""

    def __init__(self, transport: InfluxTransport, database: str, *,
                 where: str = "InfluxDB") -> None:
        self._transport = transport
        self._database = database
        self._where = where

    @property
    def database(self) -> str:
        """The database (or 2.x bucket) every statement runs in."""
        return self._database

    async def query(self, statement: str) -> list[Series]:
        """Run one statement and return its series (empty when there are no rows).

        Raises:
            InfluxUnavailableError: InfluxDB is unreachable, timed out or answered 5xx.
            InfluxQueryError: InfluxDB answered 4xx, or its result carries an `error`.
        """
        response = await self._transport.get(
            "/query", {"db": self._database, "q": statement, "epoch": "ms"})
        if response.status >= 500:
            raise InfluxUnavailableError(
                f"{self._where} answered {response.status} to a query: {_excerpt(response.body)}."
            )
        try:
            body = _body_decoder.decode(response.body)
        except msgspec.DecodeError:
            raise InfluxQueryError(
                f"{self._where} answered {response.status} with a body that is not "
                f"InfluxDB JSON: {_excerpt(response.body)}."
            ) from None
        if response.status != 200 or body.error is not None:
            raise InfluxQueryError(
                f"{self._where} refused a query with status {response.status}: "
                f"{body.error or _excerpt(response.body)}."
            )
        if not body.results:
            return []
        result = body.results[0]
        if result.error is not None:
            raise InfluxQueryError(f"{self._where} could not run a query: {result.error}.")
        return result.series

    async def ping(self) -> str:
        """Check `/ping` answers 204 and return a sentence naming the server's version.

        Raises:
            InfluxUnavailableError: InfluxDB is unreachable or answered anything but 204.
        """
        response = await self._transport.get("/ping", {})
        if response.status != 204:
            raise InfluxUnavailableError(
                f"{self._where} answered /ping with {response.status} instead of 204."
            )
        version = response.headers.get("x-influxdb-version", "unknown")
        return f"{self._where} answered /ping with 204 (version {version})."


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", errors="replace").strip() or "(empty body)"
    return text if len(text) <= limit else text[:limit] + "…"


def build_client(settings: ApiSettings) -> httpx.AsyncClient:
    """Return an `httpx.AsyncClient` for InfluxDB: base URL, timeout and credentials.

    Answers come uncompressed: InfluxDB beside the api (loopback, the compose
    network) sends 7 MB of rows faster than it gzips them (0.47 to 0.53 s against
    0.64 to 0.70 s for a day of 1,426 sensors' hours; docs/performance.md).
    """
    headers = {**settings.influx_auth_headers(), "Accept-Encoding": "identity"}
    return httpx.AsyncClient(base_url=settings.influx_url, headers=headers,
                             timeout=settings.influx_timeout_s)


@asynccontextmanager
async def open_influx(settings: ApiSettings) -> AsyncIterator[InfluxQuery]:
    """Yield an `InfluxQuery` over a fresh HTTP client, closed on exit."""
    async with build_client(settings) as client:
        yield InfluxQuery(HttpxTransport(client), settings.influx_db,
                          where=f"InfluxDB at {settings.influx_url}")
