"""The ingester's gate for commands from the api: only fresh commands the api signed get through.

Ack commands (`AckCommand`) and incident transitions (`TransitionCommand`) pass
the same three checks. A command is refused (and dead-lettered by the caller)
when no alert key is set, when it is unsigned or its signature is wrong
(`unauthenticated`), when it was signed more than `max_age_s` before or after
now (`stale-command`), or when its nonce was seen within that window
(`replayed-command`). Nonces are kept for as long as a command carrying them
could still pass the age check, so the memory they take is bounded by the
rate of genuine commands.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from ingest.decode import Rejected
from urbanpulse.messages import AckCommand, TransitionCommand
from urbanpulse.signing import is_signed_ack, is_signed_transition

UNAUTHENTICATED = "unauthenticated"
STALE = "stale-command"
REPLAYED = "replayed-command"


class _Signed(Protocol):
    @property
    def ts(self) -> int | None: ...
    @property
    def nonce(self) -> str | None: ...


Command = TypeVar("Command", bound=_Signed)


class CommandGate(Generic[Command]):
    """Checks one kind of command's signatures, age and nonces."""

    def __init__(self, key: bytes | None, max_age_s: float, what: str,
                 is_signed: Callable[[Command, bytes], bool]) -> None:
        self._key = key
        self._max_age_ms = int(max_age_s * 1000)
        self._what = what
        self._is_signed = is_signed
        self._seen: OrderedDict[str, int] = OrderedDict()  # nonce → ts, oldest first

    def refuse(self, command: Command, now_ms: int) -> Rejected | None:
        """Return why `command` is refused, or None to apply it (and remember its nonce)."""
        what = self._what
        if self._key is None:
            return Rejected(UNAUTHENTICATED, f"This ingester has no URBANPULSE_ALERT_KEY, so it "
                                             f"can verify no {what} command and applies none.")
        if not self._is_signed(command, self._key) or command.ts is None \
                or command.nonce is None:
            return Rejected(UNAUTHENTICATED, f"The {what} command carries no valid signature "
                                             "of the api (URBANPULSE_ALERT_KEY).")
        age_ms = now_ms - command.ts
        if abs(age_ms) > self._max_age_ms:
            return Rejected(STALE, f"The {what} command was signed {age_ms / 1000:.0f} s from "
                                   f"now, beyond URBANPULSE_INGEST_ACK_MAX_AGE_S "
                                   f"({self._max_age_ms / 1000:g} s).")
        while self._seen and next(iter(self._seen.values())) < now_ms - 2 * self._max_age_ms:
            self._seen.popitem(last=False)  # could no longer pass the age check
        if command.nonce in self._seen:
            return Rejected(REPLAYED, f"The {what} command's nonce {command.nonce} was used "
                                      "before: a copy of an earlier command.")
        self._seen[command.nonce] = now_ms
        return None


def ack_gate(key: bytes | None, max_age_s: float) -> CommandGate[AckCommand]:
    """Return the gate of ack commands."""
    return CommandGate(key, max_age_s, "ack", is_signed_ack)


def transition_gate(key: bytes | None, max_age_s: float) -> CommandGate[TransitionCommand]:
    """Return the gate of incident transition commands."""
    return CommandGate(key, max_age_s, "transition", is_signed_transition)
