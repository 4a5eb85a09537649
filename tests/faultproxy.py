"""An HTTP reverse proxy in front of a real InfluxDB that injects faults on demand.

Each request takes the next action from `plan`, or `default` when the plan is
empty: "pass" forwards to the real server; an int answers that status (with
`Retry-After` when the action is a tuple (status, retry_after)); "timeout"
holds the request without answering until the client gives up; "reset" closes
the connection unanswered. `close` aborts the connections still open, so no
handler is left to be cancelled with the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import httpx

Action = str | int | tuple[int, str]


class FaultProxy:
    """Loopback HTTP/1.1 proxy; one request per connection (httpx reconnects as needed)."""

    def __init__(self, upstream: str, *, default: Action = "pass") -> None:
        self._upstream = upstream
        self.plan: deque[Action] = deque()
        self.default = default
        self.seen: list[tuple[str, Action]] = []
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._client = httpx.AsyncClient(timeout=30)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):
                writer.transport.abort()
            for _ in range(200):  # each handler ends once its reader sees the abort
                if not self._open:
                    break
                await asyncio.sleep(0.01)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        await self._client.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers: dict[str, Any] = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            action = self.plan.popleft() if self.plan else self.default
            self.seen.append((target, action))
            if action == "reset":
                writer.transport.abort()
                return
            if action == "timeout":
                await reader.read()  # until the client times out and closes
                return
            if action == "pass":
                forwarded = {k: v for k, v in headers.items()
                             if k in ("content-type", "content-encoding", "authorization")}
                response = await self._client.request(method, f"{self._upstream}{target}",
                                                      content=body, headers=forwarded)
                status, extra, payload = response.status_code, "", response.content
            else:
                status, retry = action if isinstance(action, tuple) else (int(action), "")
                extra = f"Retry-After: {retry}\r\n" if retry else ""
                payload = b'{"error":"injected fault"}'
            writer.write(f"HTTP/1.1 {status} Injected\r\nContent-Length: {len(payload)}\r\n"
                         f"Content-Type: application/json\r\n{extra}\r\n".encode() + payload)
            await writer.drain()
