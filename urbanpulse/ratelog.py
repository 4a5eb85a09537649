"""A log of refused messages whose size a flood of them cannot drive: a burst, then counts.

Whoever may publish to a topic may send a refused message as often as they like;
logging each one would hand them the log. `RateLimitedLog` says the first few
refusals of each reason per interval in full (topic, reason, detail and a payload
excerpt, each cut short) and then only how many followed. The ingester's
rejections (`ingest.rejections.RejectionLog`) and the api's ignored messages
(`api.live.LiveState`) use it. Nothing here does I/O but logging.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Final

TOPIC_CHARS: Final = 256
"""Topics are cut to this many characters (MQTT allows 65,535 bytes)."""
DETAIL_CHARS: Final = 512
"""Details are cut to this many characters (a decoder's message may quote the input)."""
_LOG_EXCERPT_BYTES: Final = 120


def clip(text: str, limit: int) -> tuple[str, bool]:
    """Return `text` cut to `limit` characters (marked with `…`), and whether it was cut."""
    if len(text) <= limit:
        return text, False
    return text[:limit - 1] + "…", True


class RateLimitedLog:
    """Logs the first `burst` refusals of each reason per interval, then one count.

    A flood of bad messages writes at most `burst` lines and one notice per reason,
    and a summary line per reason per `interval_s`, however many messages it holds.
    Each line starts with `verb` ("rejected"); counts name the refusals `noun`
    ("rejections").
    """

    def __init__(self, logger: logging.Logger, *, burst: int, interval_s: float,
                 clock: Callable[[], float] = time.monotonic, verb: str = "rejected",
                 noun: str = "rejections") -> None:
        self._log = logger
        self._burst = burst
        self._interval = interval_s
        self._clock = clock
        self._verb = verb
        self._noun = noun
        self._started = clock()
        self._counts: Counter[str] = Counter()

    def rejected(self, topic: str, reason: str, detail: str, payload: bytes) -> None:
        """Count one refusal and log it if its reason has not used up its burst."""
        if self._clock() - self._started >= self._interval:
            self.flush()
        self._counts[reason] += 1
        count = self._counts[reason]
        if count > self._burst:
            return
        self._log.warning("%s %s (%s): %s; payload %d bytes %r%s", self._verb,
                          clip(topic, TOPIC_CHARS)[0], reason, clip(detail, DETAIL_CHARS)[0],
                          len(payload), payload[:_LOG_EXCERPT_BYTES],
                          "…" if len(payload) > _LOG_EXCERPT_BYTES else "")
        if count == self._burst:
            self._log.warning("further %s %s are counted, not logged, for up to %.0f s",
                              reason, self._noun, self._interval)

    def flush(self) -> None:
        """Log how many refusals per reason went unlogged, and start a new interval."""
        now = self._clock()
        for reason, count in sorted(self._counts.items()):
            if count > self._burst:
                self._log.warning("%d more %s %s in the last %.0f s (not logged one by one)",
                                  count - self._burst, reason, self._noun, now - self._started)
        self._counts.clear()
        self._started = now

    async def run(self) -> None:
        """Flush every interval until cancelled, so a flood's count is logged when it stops."""
        while True:
            await asyncio.sleep(self._interval)
            if self._clock() - self._started >= self._interval:
                self.flush()
