"""Response and request models of the incident routes, as the OpenAPI document shows them."""

from __future__ import annotations

from typing import Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.messages import (
    ACK_BY_MAX,
    ACK_BY_PATTERN,
    ACK_NOTE_MAX,
    ACK_NOTE_PATTERN,
    IncidentChange,
    IncidentStage,
    Severity,
)
from urbanpulse.messages import Incident as IncidentMessage


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class IncidentAlert(_Model):
    """One alert episode an incident holds."""

    alert_id: str = Field(description="The alert (fingerprint of rule and sensor)",
                          examples=["3f2a9c0d1e4b5a69"])
    rule: str = Field(description="Rule name", examples=["ponding-report"])
    sensor: str = Field(description="Sensor id, or district-{name} for district rules")
    kind: str = Field(description="Sensor kind")
    severity: Severity
    since: int = Field(description="When the alert's condition began, epoch ms (device time)")
    fired: int = Field(description="When the alert fired, epoch ms (device time)")
    resolved: int | None = Field(None, description="When it resolved; null while active")


class Incident(_Model):
    """One incident (事件) in its current state: related alerts of one district and department."""

    incident_id: str = Field(description="Incident id", examples=["8d3ce8af5fe8cda9"])
    district: str = Field(description="District", examples=["huangpu"])
    street: str = Field(description="Site (街镇) of the sensor whose alert opened it; empty "
                                    "for a district-wide alert or one not located yet")
    category: str = Field(description="Code of the department it is dispatched to",
                          examples=["flood-control"])
    department: str = Field(description="The department, in English and Chinese")
    cause: str = Field(description="The alert that opened it: rule, sensor and message")
    severity: Severity = Field(description="The highest severity of its alerts")
    stage: IncidentStage = Field(description="accepted (受理), dispatched (分派), handling "
                                             "(处置) or closed (结案)")
    opened: int = Field(description="When its first alert opened it, epoch ms")
    ts: int = Field(description="Time of this state, epoch ms")
    stage_since: int = Field(description="When the current stage began, epoch ms")
    due: int | None = Field(description="When the current stage overruns its time limit; "
                                        "null once closed")
    overrun: bool = Field(description="Whether the current stage is past its limit")
    change: IncidentChange = Field(description="What this state changed")
    alerts_total: int = Field(description="Alert episodes it took")
    active_alerts: int = Field(description="Of those, the ones still active")
    resolved_at: int | None = Field(None, description="When its last alert resolved; null "
                                                      "while one is active")
    by: str | None = Field(None, description="The operator who made this change (transitions)")
    note: str | None = Field(None, description="The operator's note of this change")


class IncidentState(Incident):
    """An incident's current state with the alert episodes it lists (the first 200)."""

    alerts: list[IncidentAlert] = Field(description="Its alert episodes, in joining order")


class AuditEntry(_Model):
    """One action on an incident: who did what, when, with what note."""

    ts: int = Field(description="When, epoch ms")
    action: str = Field(description="opened, alert, all-resolved, transition or overrun",
                        examples=["transition"])
    by: str = Field(description="Who: the operator, or 'urbanpulse' for the platform itself")
    stage: IncidentStage = Field(description="The stage it was in (a transition: the one left)")
    to: IncidentStage | None = Field(None, description="The stage a transition moved it to")
    minutes: float | None = Field(None, description="A transition: minutes in the stage left")
    detail: str = Field(description="What happened, as a sentence")
    note: str | None = Field(None, description="The operator's note")


class IncidentDetail(IncidentState):
    """An incident's current state, its alert episodes and its audit trail."""

    audit: list[AuditEntry] = Field(description="The audit trail, oldest first (its last "
                                                "`limit` entries)")


class IncidentPage(_Model):
    """One page of incidents in their current state, newest change first."""

    items: list[Incident]
    total: int = Field(description="Incidents matching the filters, over all pages")
    limit: int = Field(description="Most items this page could hold")
    offset: int = Field(description="Matching incidents skipped before this page")


class TransitionRequest(_Model):
    """The stage to move an incident to, who moves it, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: Literal["accepted", "dispatched", "handling", "closed"] = Field(
        description="The stage to move it to (see the allowed moves in docs/incidents.md)")
    # As for acknowledgements: the document states the whole rule, the route checks it.
    by: str = Field(min_length=1, max_length=ACK_BY_MAX, pattern=r"\S",
                    description="Who moves it: a name or handle, no control characters",
                    examples=["duty-officer"], json_schema_extra={"pattern": ACK_BY_PATTERN})
    note: str = Field("", max_length=ACK_NOTE_MAX,
                      description="Free text kept in the audit trail (tabs and line feeds "
                                  "allowed, no other control characters)",
                      examples=["Dispatched to the district's drainage crew."],
                      json_schema_extra={"pattern": ACK_NOTE_PATTERN})


def state_of(message: IncidentMessage) -> IncidentState:
    """Return the api's model of an incident state message."""
    fields = msgspec.structs.asdict(message)
    del fields["v"], fields["sig"]
    fields["alerts"] = [msgspec.structs.asdict(episode) for episode in message.alerts]
    return IncidentState.model_validate(fields)


def in_stage(stage: str, *, wanted: str | None, is_open: bool | None) -> bool:
    """Return whether an incident in `stage` passes the lists' `stage` and `open` filters."""
    return wanted in (None, stage) and is_open in (None, stage != "closed")


def summary_of(message: IncidentMessage) -> Incident:
    """Return an incident state message without its alert episodes, as lists show it."""
    return Incident.model_validate({name: getattr(message, name)
                                    for name in Incident.model_fields})
