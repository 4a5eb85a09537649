"""What the incident desk is given and hands back: stage limits, changes, audit entries.

The desk (`ingest.incidents.desk`) returns a `Changes` from every call: the new
states of the incidents it changed, one audit entry per action, and the overrun
alerts it fired or resolved. A transition it cannot make raises
`TransitionRefusedError` with the reason the ingester dead-letters it under.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from ingest import IngestError
from urbanpulse.messages import Alert, Incident, IncidentStage

UNKNOWN: Final = "unknown-incident"
ILLEGAL: Final = "illegal-transition"
"""Dead-letter reasons of transitions the desk refuses: no such open incident, a move its
stage does not allow."""


@dataclass(frozen=True, slots=True)
class StageLimits:
    """How long each open stage may last before it overruns, in seconds."""

    accepted_s: float
    dispatched_s: float
    handling_s: float

    def due(self, stage: IncidentStage, since_ms: int) -> int | None:
        """Return when `stage`, begun at `since_ms`, overruns (None for closed)."""
        limit = {"accepted": self.accepted_s, "dispatched": self.dispatched_s,
                 "handling": self.handling_s}.get(stage)
        return None if limit is None else since_ms + int(limit * 1000)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of an incident's audit trail: who did what, when, with what note."""

    incident_id: str
    district: str
    category: str
    ts: int
    action: str
    """`opened`, `alert`, `all-resolved`, `transition` or `overrun`."""
    by: str
    stage: IncidentStage
    """The stage the incident was in: for a transition, the stage it left."""
    detail: str
    note: str = ""
    to: IncidentStage | None = None
    """The stage a transition moved it to."""
    minutes: float | None = None
    """How long the incident had been in `stage` when a transition moved it on."""


@dataclass(slots=True)
class Changes:
    """What one call changed: new incident states, audit entries, overrun alert changes."""

    incidents: list[Incident] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.incidents or self.audit or self.alerts)


class TransitionRefusedError(IngestError):
    """An operator's transition the desk cannot make; `reason` is the dead letter's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
