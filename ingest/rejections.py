"""What a rejection leaves behind: a dead letter of bounded size and a rate-limited log line.

One hostile message must not turn into more output than it is worth: a dead
letter carries an excerpt of the payload with its size and SHA-256, never the
whole payload, and topic and detail are cut too; the log says the first few
rejections of each reason per interval in full and then only how many followed.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Final, Literal

from urbanpulse.messages import VERSION, Rejection
from urbanpulse.ratelog import DETAIL_CHARS, TOPIC_CHARS, RateLimitedLog, clip

__all__ = ["DETAIL_CHARS", "EXCERPT_BYTES", "MAX_DEAD_LETTER_BYTES", "TOPIC_CHARS", "Encoding",
           "RejectionLog", "clip", "dead_letter", "excerpt"]

EXCERPT_BYTES: Final = 256
"""A dead letter keeps at most this many bytes of the payload."""
MAX_DEAD_LETTER_BYTES: Final = 8192
"""No dead letter is larger, whatever was sent: 6 bytes of JSON per character at worst."""

Encoding = Literal["utf-8", "base64"]


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


class RejectionLog(RateLimitedLog):
    """Logs the first `burst` rejections of each reason per interval, then one count.

    A flood of bad messages writes at most `burst` lines per reason and a
    summary line per reason per `interval_s`, however many messages it holds
    (`urbanpulse.ratelog.RateLimitedLog`, which the api's ignored messages share).
    """

    def __init__(self, logger: logging.Logger, *, burst: int, interval_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(logger, burst=burst, interval_s=interval_s, clock=clock,
                         verb="rejected", noun="rejections")
