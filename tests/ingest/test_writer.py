"""The writer's status policy, with faults injected through httpx's mock transport."""

from __future__ import annotations

import gzip
from collections.abc import Callable

import httpx

from ingest.writer import InfluxWriter

Handler = Callable[[httpx.Request], httpx.Response]


def _writer(handler: Handler, sleeps: list[float]) -> InfluxWriter:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return InfluxWriter(url="http://influx.test", database="city",
                        auth={"Authorization": "Token t0k"},
                        timeout_s=1, retry_max_s=5, client=client, sleep=sleep)


def _lines(request: httpx.Request) -> list[str]:
    return gzip.decompress(request.content).decode().split("\n")


async def test_writer_posts_gzip_line_protocol_with_token_and_precision() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    writer = _writer(handler, [])
    assert await writer.write(["air,sensor=a pm25=1.0 1", "air,sensor=b pm25=2.0 1"]) == []
    request = seen[0]
    assert request.url.path == "/write"
    assert dict(request.url.params) == {"db": "city", "precision": "ms"}
    assert request.headers["Authorization"] == "Token t0k"
    assert request.headers["Content-Encoding"] == "gzip"
    assert _lines(request) == ["air,sensor=a pm25=1.0 1", "air,sensor=b pm25=2.0 1"]
    assert writer.stats.points_written == 2


async def test_writer_retries_503_and_429_honouring_retry_after() -> None:
    answers = [httpx.Response(503, headers={"Retry-After": "2"}),
               httpx.Response(429, headers={"Retry-After": "0.5"}), httpx.Response(204)]
    sleeps: list[float] = []
    writer = _writer(lambda request: answers.pop(0), sleeps)
    assert await writer.write(["m f=1.0 1"]) == []
    assert sleeps == [2.0, 0.5]
    assert writer.stats.retries == 2
    assert writer.stats.retry_reasons == {"503": 1, "429": 1}


async def test_writer_keeps_retrying_on_auth_errors_and_timeouts() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if calls == 2:
            raise httpx.ConnectError("reset", request=request)
        if calls <= 4:
            return httpx.Response(401 if calls == 3 else 403, text='{"error":"auth"}')
        return httpx.Response(204)

    sleeps: list[float] = []
    writer = _writer(handler, sleeps)
    assert await writer.write(["m f=1.0 1"]) == []
    assert calls == 5
    assert len(sleeps) == 4
    assert all(0 <= s <= 5 for s in sleeps)
    assert writer.stats.points_written == 1


async def test_writer_isolates_refused_points_by_splitting() -> None:
    bad = {"m f=\"text\" 3", "m f=\"text\" 6"}

    def handler(request: httpx.Request) -> httpx.Response:
        lines = _lines(request)
        if bad & set(lines):
            return httpx.Response(400, text='{"error":"partial write: field type conflict"}')
        return httpx.Response(204)

    lines = [f"m f={i}.0 {i}" for i in range(8)]
    lines[3], lines[6] = "m f=\"text\" 3", "m f=\"text\" 6"
    writer = _writer(handler, [])
    refused = await writer.write(lines)
    assert [index for index, _ in refused] == [3, 6]
    assert all("field type conflict" in message for _, message in refused)
    assert writer.stats.points_refused == 2
    assert writer.stats.points_written == 6


async def test_writer_splits_on_413() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(413 if len(_lines(request)) > 2 else 204)

    writer = _writer(handler, [])
    assert await writer.write([f"m f=1.0 {i}" for i in range(7)]) == []
    assert writer.stats.points_written == 7
