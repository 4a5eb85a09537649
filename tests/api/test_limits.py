"""Limits of the api: request bodies (413, chunked too), CORS origins, keys on every write."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send

from api.access_log import AccessLog
from api.kind_views import views
from api.main import create_app
from tests.api.conftest import error_locs
from tests.api.test_alerts import KEY, serve
from urbanpulse.errors import ConfigError
from urbanpulse.settings import ApiSettings, load

ACK = "/v1/alerts/0123456789abcdef/ack"
ORIGIN = "https://city.example.org"
TOO_LARGE = {"detail": "The request body is larger than the allowed 16384 bytes."}


def client_for(settings: ApiSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)),
                             base_url="http://api")


async def raw_chunked(port: int, chunks: list[bytes], *, request: str = f"POST {ACK}"
                      ) -> tuple[int, bytes]:
    """Send `request` (an ack by default) with `Transfer-Encoding: chunked` over a socket;
    return the status and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{request} HTTP/1.1\r\nHost: api\r\nX-API-Key: {KEY}\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     .encode())
        for chunk in chunks:
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        return status, await asyncio.wait_for(reader.readexactly(length), 15)
    finally:
        writer.close()


@pytest.fixture
def keyed(settings: ApiSettings) -> ApiSettings:
    """The test settings with an API key."""
    return settings.model_copy(update={"api_key": load(ApiSettings, api_key=KEY).api_key})


async def test_a_declared_oversized_body_is_413_before_anything_else(
        settings: ApiSettings) -> None:
    async with client_for(settings) as client:  # no key configured: the size is checked first
        post = await client.post(ACK, content=b"x" * 16_385,
                                 headers={"Content-Type": "application/json"})
        get = await client.request("GET", "/v1/sensors", content=b"x" * 20_000)

    assert (post.status_code, post.json()) == (413, TOO_LARGE)
    assert (get.status_code, get.json()) == (413, TOO_LARGE)


async def test_a_body_at_the_limit_reaches_the_route(keyed: ApiSettings) -> None:
    body = json.dumps({"by": "ops", "note": "x" * 1000}).encode()
    body += b" " * (16_384 - len(body))
    async with client_for(keyed) as client:
        response = await client.post(ACK, content=body, headers={
            "Content-Type": "application/json", "X-API-Key": KEY})

    assert response.status_code == 404  # parsed, authorised, and the alert is unknown


async def test_a_streamed_body_without_length_is_counted(keyed: ApiSettings) -> None:
    async def chunks(total: int) -> AsyncIterator[bytes]:
        for _ in range(total // 1000):
            yield b" " * 1000

    async with client_for(keyed) as client:
        response = await client.post(ACK, content=chunks(40_000), headers={
            "Content-Type": "application/json", "X-API-Key": KEY})

    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()) == (413, TOO_LARGE)


async def test_chunked_bodies_over_real_http(keyed: ApiSettings) -> None:
    async with serve(keyed) as served:
        port = served.client.base_url.port
        assert port is not None
        large = await raw_chunked(port, [b" " * 4096] * 5)
        small = await raw_chunked(port, [b'{"by": ', b'"ops"}'])

    assert (large[0], json.loads(large[1])) == (413, TOO_LARGE)
    assert small[0] == 404


async def test_a_chunked_body_is_refused_on_a_route_that_reads_none(
        settings: ApiSettings) -> None:
    async with serve(settings) as served:
        port = served.client.base_url.port
        assert port is not None
        large = await raw_chunked(port, [b"x" * 4096] * 5, request="GET /v1/districts")
        small = await raw_chunked(port, [b"x" * 4096], request="GET /v1/districts")
        empty = await raw_chunked(port, [], request="GET /v1/districts")

    assert (large[0], json.loads(large[1])) == (413, TOO_LARGE)
    assert (small[0], json.loads(small[1])) == (200, {"items": []})
    assert (empty[0], json.loads(empty[1])) == (200, {"items": []})


async def test_a_body_reaches_the_route_whole_after_the_count(keyed: ApiSettings) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"by": "ops", '
        yield b'"note": "' + b"n" * 900 + b'", "extra": 1}'

    async with client_for(keyed) as client:
        response = await client.post(ACK, content=chunks(), headers={
            "Content-Type": "application/json", "X-API-Key": KEY})

    # The route parsed the whole replayed body: only the last chunk holds the stray field.
    assert error_locs(response) == [["body", "extra"]]


FIXED_OPERATIONS = 16
"""The api's operations besides the kinds' views (one each)."""


def test_every_operation_documents_the_413_and_its_errors_as_json(
        settings: ApiSettings) -> None:
    schema = create_app(settings).openapi()
    operations = [(method, path, operation) for path, methods in schema["paths"].items()
                  for method, operation in methods.items()]

    assert len(operations) == FIXED_OPERATIONS + len(views())
    for method, path, operation in operations:
        answer = operation["responses"].get("413")
        assert answer is not None, f"{method} {path} does not document 413"
        assert answer["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorDetail"}
        # Errors are JSON even where the answer is CSV or an event stream.
        errors = {status: list(response["content"])
                  for status, response in operation["responses"].items() if status >= "400"}
        assert all(types == ["application/json"] for types in errors.values()), (path, errors)


async def test_no_cors_headers_by_default(settings: ApiSettings) -> None:
    async with client_for(settings) as client:
        simple = await client.get("/v1/sensors", headers={"Origin": ORIGIN})
        preflight = await client.options(ACK, headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST"})

    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_allows_only_the_configured_origins(settings: ApiSettings) -> None:
    allowed = settings.model_copy(update={"api_cors_origins": [ORIGIN]})
    async with client_for(allowed) as client:
        simple = await client.get("/v1/sensors", headers={"Origin": ORIGIN})
        other = await client.get("/v1/sensors", headers={"Origin": "https://evil.example"})
        preflight = await client.options(ACK, headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type"})
        refused = await client.options(ACK, headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})

    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_cors_origins_are_read_from_a_comma_separated_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANPULSE_API_CORS_ORIGINS", f"{ORIGIN}, http://localhost:3000")

    assert load(ApiSettings).api_cors_origins == [ORIGIN, "http://localhost:3000"]


@pytest.mark.parametrize("origins", ["*", "https://city.example.org/", "city.example.org",
                                     "ftp://city.example.org"])
def test_a_bad_cors_origin_stops_start_up(monkeypatch: pytest.MonkeyPatch,
                                          origins: str) -> None:
    monkeypatch.setenv("URBANPULSE_API_CORS_ORIGINS", origins)

    with pytest.raises(ConfigError, match=r"URBANPULSE_API_CORS_ORIGINS.*is not an origin"):
        load(ApiSettings)


async def test_every_state_changing_route_needs_the_api_key(keyed: ApiSettings) -> None:
    # With every key configured, so that a missing header is what answers.
    keyed = keyed.model_copy(update={"api_operator_key": SecretStr("operator-key-3c9e1f7a")})
    schema = create_app(keyed).openapi()
    writes = [(method, path, operation) for path, operations in schema["paths"].items()
              for method, operation in operations.items() if method not in {"get", "head"}]

    assert [(method, path) for method, path, _ in writes] == [
        ("post", "/v1/alerts/{alert_id}/ack"),
        ("post", "/v1/incidents/{incident_id}/transitions")]
    async with client_for(keyed) as client:
        for method, path, operation in writes:
            assert operation["security"] == [{"ApiKey": []}]
            url = path.replace("{alert_id}", "0123456789abcdef").replace(
                "{incident_id}", "0123456789abcdef")
            response = await client.request(method, url, json={"by": "ops"})
            assert response.status_code == 401


async def test_an_alert_stream_ends_after_its_longest_life(settings: ApiSettings) -> None:
    async with serve(settings.model_copy(update={"api_stream_max_s": 0.5})) as served:
        started = time.monotonic()
        response = await served.client.get("/v1/alerts/stream")
        lasted = time.monotonic() - started

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert 0.5 <= lasted < 5


async def test_the_access_log_has_the_changes_and_the_refusals_not_the_reads(
        keyed: ApiSettings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="api.access")
    async with client_for(keyed) as client:
        read = await client.get("/v1/districts")
        unknown = await client.get("/v1/sensors/no-such-sensor")
        bad = await client.get("/v1/sensors", params={"limit": 0})
        ack = await client.post(ACK, json={"by": "ops"}, headers={"X-API-Key": KEY})
        refused = await client.post(ACK, json={"by": "ops"}, headers={"X-API-Key": "wrong"})

    assert [read.status_code, unknown.status_code, bad.status_code, ack.status_code,
            refused.status_code] == [200, 404, 422, 404, 403]
    assert [record.getMessage() for record in caplog.records if record.name == "api.access"] == [
        '127.0.0.1:123 - "GET /v1/sensors/no-such-sensor HTTP/1.1" 404',
        '127.0.0.1:123 - "GET /v1/sensors?limit=0 HTTP/1.1" 422',
        f'127.0.0.1:123 - "POST {ACK} HTTP/1.1" 404',
        f'127.0.0.1:123 - "POST {ACK} HTTP/1.1" 403']


@pytest.mark.parametrize("setting", ["all", "none"])
async def test_no_access_line_of_the_api_s_own_unless_changes_are_asked_for(
        keyed: ApiSettings, caplog: pytest.LogCaptureFixture, setting: str) -> None:
    caplog.set_level(logging.INFO, logger="api.access")
    async with client_for(keyed.model_copy(update={"api_access_log": setting})) as client:
        refused = await client.post(ACK, json={"by": "ops"}, headers={"X-API-Key": "wrong"})

    assert refused.status_code == 403
    assert not [record for record in caplog.records if record.name == "api.access"]


async def test_a_flood_of_refusals_gets_a_burst_of_lines_then_a_count(
        caplog: pytest.LogCaptureFixture) -> None:
    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": int(scope["path"][1:]),
                    "headers": []})
        await send({"type": "http.response.body", "body": b""})

    now = [0.0]
    app = AccessLog(answer, burst=3, interval_s=60, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="api.access")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        for _ in range(10):
            await client.get("/403")
        await client.get("/404")
        await client.post("/200")
        await client.get("/200")
        now[0] = 61.0
        await client.get("/200")

    assert [record.getMessage().split(" - ")[-1] for record in caplog.records] == [
        '"GET /403 HTTP/1.1" 403', '"GET /403 HTTP/1.1" 403', '"GET /403 HTTP/1.1" 403',
        "further answers 403 are counted, not logged, for up to 60 s",
        '"GET /404 HTTP/1.1" 404', '"POST /200 HTTP/1.1" 200',
        "7 more answers 403 in the last 61 s (not logged one by one)"]
