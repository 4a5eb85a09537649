"""Only fresh transition commands the api signed get past the ingester's gate."""

from __future__ import annotations

import msgspec

from ingest.alerts.commands import transition_gate
from urbanpulse.messages import TransitionCommand
from urbanpulse.signing import signed_transition

KEY = b"alert-key-7c1d3e9a5b2f4e60"
NOW = 1_795_000_000_000
ID = "0123456789abcdef"


def command(*, key: bytes = KEY, at: int = NOW) -> TransitionCommand:
    return signed_transition(ID, "dispatched", "ops", "crew sent", key=key, now_ms=at)


def test_a_fresh_signed_command_passes_once() -> None:
    gate = transition_gate(KEY, max_age_s=300)
    good = command()
    assert gate.refuse(good, NOW + 1000) is None
    refused = gate.refuse(good, NOW + 2000)
    assert refused is not None
    assert refused.reason == "replayed-command"


def test_unsigned_forged_altered_and_stale_commands_are_refused() -> None:
    gate = transition_gate(KEY, max_age_s=300)
    unsigned = msgspec.structs.replace(command(), sig=None)
    forged = command(key=b"another-key-0000000000")
    altered = msgspec.structs.replace(command(), to="closed")
    stale = command(at=NOW - 301_000)
    ahead = command(at=NOW + 301_000)
    reasons = [refused.reason if (refused := gate.refuse(one, NOW)) else None
               for one in (unsigned, forged, altered, stale, ahead)]
    assert reasons == ["unauthenticated"] * 3 + ["stale-command"] * 2


def test_without_a_key_every_command_is_refused() -> None:
    refused = transition_gate(None, max_age_s=300).refuse(command(), NOW)
    assert refused is not None
    assert refused.reason == "unauthenticated"
    assert "URBANPULSE_ALERT_KEY" in refused.detail
