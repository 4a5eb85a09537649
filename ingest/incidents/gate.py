"""The ingester's gate for transition commands: only fresh commands the api signed get through.

The same three checks as for ack commands (`ingest.alerts.commands.AckGate`),
with the same dead-letter reasons: a command without a valid signature of
`URBANPULSE_ALERT_KEY` is `unauthenticated`, one signed more than the age
window before or after now `stale-command`, and a nonce seen within that
window `replayed-command`. Nonces are kept only as long as a command carrying
them could pass the age check.
"""

from __future__ import annotations

from collections import OrderedDict

from ingest.alerts.commands import REPLAYED, STALE, UNAUTHENTICATED
from ingest.decode import Rejected
from urbanpulse.messages import TransitionCommand
from urbanpulse.signing import is_signed_transition


class TransitionGate:
    """Checks transition commands' signatures, age and nonces."""

    def __init__(self, key: bytes | None, max_age_s: float) -> None:
        self._key = key
        self._max_age_ms = int(max_age_s * 1000)
        self._seen: OrderedDict[str, int] = OrderedDict()  # nonce → when seen, oldest first

    def refuse(self, command: TransitionCommand, now_ms: int) -> Rejected | None:
        """Return why `command` is refused, or None to apply it (and remember its nonce)."""
        if self._key is None:
            return Rejected(UNAUTHENTICATED, "This ingester has no URBANPULSE_ALERT_KEY, so it "
                                             "can verify no transition command and applies "
                                             "none.")
        if not is_signed_transition(command, self._key) or command.ts is None \
                or command.nonce is None:
            return Rejected(UNAUTHENTICATED, "The transition command carries no valid "
                                             "signature of the api (URBANPULSE_ALERT_KEY).")
        age_ms = now_ms - command.ts
        if abs(age_ms) > self._max_age_ms:
            return Rejected(STALE, f"The transition command was signed {age_ms / 1000:.0f} s "
                                   f"from now, beyond URBANPULSE_INGEST_ACK_MAX_AGE_S "
                                   f"({self._max_age_ms / 1000:g} s).")
        while self._seen and next(iter(self._seen.values())) < now_ms - 2 * self._max_age_ms:
            self._seen.popitem(last=False)
        if command.nonce in self._seen:
            return Rejected(REPLAYED, f"The transition command's nonce {command.nonce} was "
                                      "used before: a copy of an earlier command.")
        self._seen[command.nonce] = now_ms
        return None
