"""What a rejection leaves behind: a dead letter of bounded size and a rate-limited log line.

One hostile message must not turn into more output than it is worth: a dead
letter carries an excerpt of the payload with its size and SHA-256, never the
whole payload, and topic and detail are cut too; the log says the first few
rejections of each reason per interval in full and then only how many followed.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Final, Literal

from urbanpulse.messages import VERSION, Rejection

EXCERPT_BYTES: Final = 256
"""A dead letter keeps at most this many bytes of the payload."""
TOPIC_CHARS: Final = 256
"""Topics are cut to this many characters (MQTT allows 65,535 bytes)."""
DETAIL_CHARS: Final = 512
"""Details are cut to this many characters (a decoder's message may quote the input)."""
MAX_DEAD_LETTER_BYTES: Final = 8192
"""No dead letter is larger, whatever was sent: 6 bytes of JSON per character at worst."""
_LOG_EXCERPT_BYTES: Final = 120

Encoding = Literal["utf-8", "base64"]


def clip(text: str, limit: int) -> tuple[str, bool]:
    """Return `text` cut to `limit` characters (marked with `…`), and whether it was cut."""
    if len(text) <= limit:
        return text, False
    return text[:limit - 1] + "…", True


def excerpt(payload: bytes, limit: int = EXCERPT_BYTES) -> tuple[str, Encoding]:
    """Return the first `limit` bytes of `payload` as text, or as base64 if not UTF-8.

    A multi-byte character cut at the limit is left out rather than turning the
    excerpt into base64.
    """
    head = payload[:limit]
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=len(payload) <= limit)
    except UnicodeDecodeError:
        return base64.b64encode(head).decode("ascii"), "base64"
    return text, "utf-8"


def dead_letter(topic: str, payload: bytes, reason: str, detail: str, ts_ms: int) -> Rejection:
    """Return the dead letter of one rejected message, of at most MAX_DEAD_LETTER_BYTES."""
    text, encoding = excerpt(payload)
    short_topic, topic_cut = clip(topic, TOPIC_CHARS)
    short_detail, detail_cut = clip(detail, DETAIL_CHARS)
    return Rejection(v=VERSION, ts=ts_ms, topic=short_topic, reason=reason, detail=short_detail,
                     payload=text, encoding=encoding, size=len(payload),
                     sha256=hashlib.sha256(payload).hexdigest(),
                     truncated=topic_cut or detail_cut or len(payload) > EXCERPT_BYTES)


class RejectionLog:
    """Logs the first `burst` rejections of each reason per interval, then one count.

    A flood of bad messages writes at most `burst` lines per reason and a
    summary line per reason per `interval_s`, however many messages it holds.
    """

    def __init__(self, logger: logging.Logger, *, burst: int, interval_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._burst = burst
        self._interval = interval_s
        self._clock = clock
        self._started = clock()
        self._counts: Counter[str] = Counter()

    def rejected(self, topic: str, reason: str, detail: str, payload: bytes) -> None:
        """Count one rejection and log it if its reason has not used up its burst."""
        if self._clock() - self._started >= self._interval:
            self.flush()
        self._counts[reason] += 1
        count = self._counts[reason]
        if count > self._burst:
            return
        self._log.warning("rejected %s (%s): %s; payload %d bytes %r%s",
                          clip(topic, TOPIC_CHARS)[0], reason, clip(detail, DETAIL_CHARS)[0],
                          len(payload), payload[:_LOG_EXCERPT_BYTES],
                          "…" if len(payload) > _LOG_EXCERPT_BYTES else "")
        if count == self._burst:
            self._log.warning("further %s rejections are counted, not logged, for up to "
                              "%.0f s", reason, self._interval)

    def flush(self) -> None:
        """Log how many rejections per reason went unlogged, and start a new interval."""
        now = self._clock()
        for reason, count in sorted(self._counts.items()):
            if count > self._burst:
                self._log.warning("%d more %s rejections in the last %.0f s (not logged one "
                                  "by one)", count - self._burst, reason, now - self._started)
        self._counts.clear()
        self._started = now

    async def run(self) -> None:
        """Flush every interval until cancelled, so a flood's count is logged when it stops."""
        while True:
            await asyncio.sleep(self._interval)
            if self._clock() - self._started >= self._interval:
                self.flush()
