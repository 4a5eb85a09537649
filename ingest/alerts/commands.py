"""The ingester's gate for ack commands: only fresh commands the api signed get through.

A command is refused (and dead-lettered by the caller) when no alert key is set,
when it is unsigned or its signature is wrong (`unauthenticated`), when it was
signed more than `max_age_s` before or after now (`stale-command`), or when
its nonce was seen within that window (`replayed-command`). Nonces are kept
for as long as a command carrying them could still pass the age check, so
the memory they take is bounded by the rate of genuine acks.
"""

from __future__ import annotations

from collections import OrderedDict

from ingest.decode import Rejected
from urbanpulse.messages import AckCommand
from urbanpulse.signing import is_signed_ack

UNAUTHENTICATED = "unauthenticated"
STALE = "stale-command"
REPLAYED = "replayed-command"


class AckGate:
    """Checks ack commands' signatures, age and nonces."""

    def __init__(self, key: bytes | None, max_age_s: float) -> None:
        self._key = key
        self._max_age_ms = int(max_age_s * 1000)
        self._seen: OrderedDict[str, int] = OrderedDict()  # nonce → ts, oldest first

    def refuse(self, command: AckCommand, now_ms: int) -> Rejected | None:
        """Return why `command` is refused, or None to apply it (and remember its nonce)."""
        if self._key is None:
            return Rejected(UNAUTHENTICATED, "This ingester has no URBANPULSE_ALERT_KEY, so it "
                                             "can verify no ack command and applies none.")
        if not is_signed_ack(command, self._key) or command.ts is None or command.nonce is None:
            return Rejected(UNAUTHENTICATED, "The ack command carries no valid signature of "
                                             "the api (URBANPULSE_ALERT_KEY).")
        age_ms = now_ms - command.ts
        if abs(age_ms) > self._max_age_ms:
            return Rejected(STALE, f"The ack command was signed {age_ms / 1000:.0f} s from now, "
                                   f"beyond URBANPULSE_INGEST_ACK_MAX_AGE_S "
                                   f"({self._max_age_ms / 1000:g} s).")
        while self._seen and next(iter(self._seen.values())) < now_ms - 2 * self._max_age_ms:
            self._seen.popitem(last=False)  # could no longer pass the age check
        if command.nonce in self._seen:
            return Rejected(REPLAYED, f"The ack command's nonce {command.nonce} was used "
                                      "before: a copy of an earlier command.")
        self._seen[command.nonce] = now_ms
        return None
