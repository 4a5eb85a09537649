"""`BodyLimit`: a pure ASGI middleware that refuses request bodies over a byte limit with 413.

A declared `Content-Length` over the limit is refused before the app runs. A
body without one (chunked transfer) is counted as it arrives, and the app is
stopped the moment the count passes the limit, so no request can make the api
hold more than the limit in memory. The answer is JSON like every other error:
`{"detail": "<sentence>"}`.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLargeError(HTTPException):
    """Raised inside the app's `receive` when the body grew past the limit.

    An `HTTPException`, so that FastAPI, which turns other errors met while
    reading a body into 400, passes it on and answers 413 with its sentence.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=too_large(max_bytes))


def too_large(max_bytes: int) -> str:
    """Return the sentence of a 413 answer."""
    return f"The request body is larger than the allowed {max_bytes} bytes."


class BodyLimit:
    """Answer 413 to any HTTP request whose body is larger than `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting `receive`, or answer 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLargeError:
            if started:  # the app answered before reading the whole body: nothing to add
                return
            await self._refuse(send)
        except ExceptionGroup as group:
            # An app that reads the body in a task group wraps the error in a group.
            matched, rest = group.split(BodyTooLargeError)
            if matched is None or rest is not None:
                raise
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": too_large(self.max_bytes)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    """Return the declared body length, or None when absent or unreadable."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
