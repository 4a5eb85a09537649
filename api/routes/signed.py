"""What the alert and incident routes share: both send signed commands and follow signed states.

An ack and a transition are commands the api signs with the alert key, on
behalf of a person named in `by` with a `note`; the streams pass on states the
ingester signed with the same key. The newest state of an alert or an
incident is in memory (fed by MQTT) before it is in InfluxDB, and InfluxDB
holds it after memory has let it go: the routes take the newer of the two.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable
from typing import Any, Protocol, TypeVar

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.sse import ServerSentEvent

from api.broker import SignedFeed
from urbanpulse.messages import ACK_BY_PATTERN, ACK_NOTE_PATTERN, encoder
from urbanpulse.settings import ApiSettings

_BY = re.compile(ACK_BY_PATTERN)
_NOTE = re.compile(ACK_NOTE_PATTERN)


class Stamped(Protocol):
    """A state with the time it was made."""

    @property
    def ts(self) -> int: ...


StateT = TypeVar("StateT", bound=Stamped)


def require_alert_key(settings: ApiSettings, refused: str) -> None:
    """Refuse (503) when the server has no alert key: it `refused` what needs one."""
    if settings.alert_key is None:
        raise HTTPException(
            status_code=503,
            detail=f"This server has no alert key configured (URBANPULSE_ALERT_KEY, shared "
                   f"with the ingester), so it {refused}.")


def check_text(by: str, note: str) -> None:
    """Refuse (422) a `by` or `note` holding control characters or bidi overrides."""
    errors = [{"type": "string_pattern_mismatch", "loc": ("body", name),
               "msg": "String should hold no control characters or bidi overrides",
               "input": value, "ctx": {"pattern": pattern.pattern}}
              for name, value, pattern in (("by", by, _BY), ("note", note, _NOTE))
              if not pattern.search(value)]
    if errors:
        raise RequestValidationError(errors)


def newer(held: StateT | None, stored: StateT | None) -> StateT | None:
    """Return the newer of a state held in memory and one read from InfluxDB."""
    if held is None or (stored is not None and stored.ts >= held.ts):
        return stored
    return held


async def follow(feed: SignedFeed[Any], settings: ApiSettings, *,
                 event: str) -> AsyncIterable[ServerSentEvent]:
    """Yield each state of `feed` as a server-sent `event` with the contract's JSON.

    Ends when the feed does (the broker dropped the api) or after
    `URBANPULSE_API_STREAM_MAX_S` seconds; the client's leaving ends it too.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.api_stream_max_s
    while True:
        try:
            state = await asyncio.wait_for(feed.get(), max(deadline - loop.time(), 0))
        except TimeoutError:
            return
        if state is None:
            return
        yield ServerSentEvent(raw_data=encoder.encode(state).decode(), event=event)
