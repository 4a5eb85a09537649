"""Incidents (事件), the city operations centre's unit of work: stages and who may move them.

    accepted (受理) ──▶ dispatched (分派) ──▶ handling (处置) ──▶ closed (结案)
        │                  │  ▲                                   ▲
        │                  └──┘ returned (退回) to accepted        │
        └──────────────────┴──────────── closed (a false alarm) ───┘

An incident opens `accepted` when its first alert fires; every other move is an
operator's (docs/incidents.md). The ingester keeps incidents and the api
refuses an illegal move with 409 before sending it: both ask this module. The
overrun of a stage's time limit is an alert like any other, of the pseudo kind
`INCIDENT_KIND`, on the incident (its id as sensor), rule `{stage}-overrun`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from urbanpulse.messages import VERSION, Incident, IncidentAlert, IncidentStage

STAGES: Final[tuple[IncidentStage, ...]] = ("accepted", "dispatched", "handling", "closed")
OPEN_STAGES: Final[tuple[IncidentStage, ...]] = ("accepted", "dispatched", "handling")
STAGE_NAMES_ZH: Final[Mapping[IncidentStage, str]] = {
    "accepted": "受理", "dispatched": "分派", "handling": "处置", "closed": "结案"}
MOVES: Final[Mapping[IncidentStage, tuple[IncidentStage, ...]]] = {
    "accepted": ("dispatched", "closed"),
    "dispatched": ("handling", "accepted", "closed"),
    "handling": ("closed",),
    "closed": (),
}
"""The stages an operator may move an incident to from each stage."""
INCIDENT_KIND: Final = "incident"
"""The kind of the overrun alerts (no sensor kind may take this name)."""
SYSTEM: Final = "urbanpulse"
"""Who the audit trail names for what the ingester did by itself (opened, overran...)."""
INCIDENTS_MEASUREMENT: Final = "incidents"
"""One point per incident state change, the whole state (docs/contract.md)."""
AUDIT_MEASUREMENT: Final = "incident_audit"
"""One point per action of an incident's audit trail."""
_INCIDENT_FIELDS: Final = (
    "incident_id", "district", "category", "stage", "department", "cause", "severity",
    "opened", "stage_since", "overrun", "change", "alerts_total", "active_alerts",
    "resolved_at", "by", "note")
_alerts = msgspec.json.Decoder(list[IncidentAlert])


def overrun_rule(stage: IncidentStage) -> str:
    """Return the rule name of the overrun alert of `stage` (`accepted-overrun`...)."""
    return f"{stage}-overrun"


def refusal(incident_id: str, stage: IncidentStage, to: IncidentStage) -> str | None:
    """Return why moving incident `incident_id` from `stage` to `to` is refused, or None."""
    allowed = MOVES[stage]
    if to in allowed:
        return None
    if not allowed:
        return f"Incident {incident_id} is closed: a closed incident stays closed."
    if to == stage:
        return f"Incident {incident_id} is already {stage}."
    choices = " or ".join((", ".join(allowed[:-1]), allowed[-1])) if allowed[:-1] else allowed[0]
    return f"Incident {incident_id} is {stage}: it can move to {choices}, not to {to}."


def incident_of(row: Mapping[str, Any]) -> Incident | None:
    """Return the incident state of one `incidents` row (its tags merged in), or None for a
    row InfluxDB is still writing (some of its fields not there yet).

    Raises:
        msgspec.ValidationError, msgspec.DecodeError: the row is no incident state.
    """
    if row.get("alerts") is None or row.get("opened") is None or row.get("change") is None:
        return None
    fields = {name: row[name] for name in _INCIDENT_FIELDS if row.get(name) is not None}
    fields.update(v=VERSION, ts=row["time"], street=row.get("street") or "",
                  due=row.get("due"), alerts=_alerts.decode(row["alerts"]))
    return msgspec.convert(fields, Incident)
