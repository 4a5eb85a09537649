"""The incident desk: related alerts become one incident, which operators move to its close.

Correlation (docs/incidents.md, "One incident per cause"):

- An alert that fires joins an incident when its rule detects incidents
  (`ingest.incidents.routing`): the earliest-opened open incident of the
  alert's district whose department is one the rule's alerts go to, provided
  that incident still takes alerts (one of its alerts is active, or the last
  resolved less than `join_window_s` ago). Otherwise it opens a new incident,
  `accepted`, at the first department its rule names.
- A resolved alert is marked so in its incident; when none is active any more
  the incident says when (`resolved_at`) and stays open: only an operator
  closes an incident.

Lifecycle: accepted → dispatched → handling → closed, moved by operators
(`urbanpulse.incidents.MOVES`). Each open stage has a time limit; a stage
that outlasts it fires an overrun alert, which the move out of the stage
resolves.

Every change comes back (`ingest.incidents.changes.Changes`) as the new
incident state, an audit entry, and any overrun alert change, for the caller
to publish and record.
Times of the incident are the caller's clock (`now_ms`); the alert episodes
an incident lists keep their alerts' own (device) times.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Final

import msgspec

from ingest import IngestError
from ingest.alerts.engine import fingerprint
from ingest.incidents.changes import (
    ILLEGAL,
    UNKNOWN,
    AuditEntry,
    Changes,
    StageLimits,
    TransitionRefusedError,
)
from ingest.incidents.routing import Routing
from urbanpulse.incidents import INCIDENT_KIND, STAGE_NAMES_ZH, SYSTEM, overrun_rule, refusal
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.departments import Department
from urbanpulse.messages import (
    INCIDENT_ALERTS_MAX,
    VERSION,
    Alert,
    Incident,
    IncidentAlert,
    IncidentChange,
    IncidentStage,
    Severity,
)

SEVERITIES: Final[tuple[Severity, ...]] = ("info", "low", "medium", "high", "critical")
_DISTRICT_WIDE: Final = "district-"  # the sensor of a district-level alert: district-{name}
Key = tuple[str, int]
"""One alert episode: its alert id and when it began (`since`)."""


def new_incident_id(district: str, category: str, alert: Alert) -> str:
    """Return the id of the incident `alert`'s episode opens: stable across restarts."""
    text = f"{district}\x00{category}\x00{alert.alert_id}\x00{alert.since}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


class _Case:
    """One open incident as the desk works on it: its last state and every alert episode."""

    def __init__(self, incident: Incident, sensor: str, located: bool) -> None:
        self.incident = incident
        self.sensor = sensor
        """The sensor of the alert that opened it: its site is the incident's street."""
        self.located = located
        self.members: dict[Key, IncidentAlert] = {}
        self.first: list[Key] = []
        """The keys of the episodes the state lists (a copy of all would cost per change)."""
        self.active: set[Key] = set()
        self.overrun: Alert | None = None
        """The overrun alert of the current stage while it is active."""
        self.unlisted = 0
        """Episodes a restored state counted but did not list (past `INCIDENT_ALERTS_MAX`)."""

    def takes_alerts(self, now_ms: int, window_ms: int) -> bool:
        resolved_at = self.incident.resolved_at
        return bool(self.active) or resolved_at is None or now_ms - resolved_at <= window_ms

    def add(self, key: Key, episode: IncidentAlert) -> None:
        """Take a new alert episode, listed while the state has room for it."""
        self.members[key] = episode
        if len(self.first) < INCIDENT_ALERTS_MAX:
            self.first.append(key)

    def listed(self) -> list[IncidentAlert]:
        """The episodes the state lists: the first `INCIDENT_ALERTS_MAX`, in joining order."""
        return [self.members[key] for key in self.first]


class IncidentDesk:
    """Keeps the open incidents of one ingester: correlation, transitions, overruns."""

    def __init__(self, routing: Routing, limits: StageLimits, *, join_window_s: float,
                 sites: Mapping[str, str]) -> None:
        if INCIDENT_KIND in KINDS:
            raise IngestError(f"A sensor kind is named {INCIDENT_KIND!r}, the kind of the "
                              "incidents' overrun alerts: rename the kind.")
        self._routing = routing
        self._limits = limits
        self._window_ms = int(join_window_s * 1000)
        self._sites = sites
        self._open: dict[str, _Case] = {}
        self._holder: dict[Key, str] = {}  # alert episode → the open incident holding it

    @property
    def open(self) -> list[Incident]:
        """The open incidents, oldest first."""
        return [case.incident for case in self._open.values()]

    @property
    def overruns(self) -> list[Alert]:
        """The overrun alerts active now (firing or acknowledged), one per open stage."""
        return [case.overrun for case in self._open.values() if case.overrun is not None]

    # -- alerts --------------------------------------------------------------------

    def on_alerts(self, alerts: Iterable[Alert], now_ms: int) -> Changes:
        """Take alert state changes: firing ones join or open incidents, resolved ones leave."""
        changes = Changes()
        for alert in alerts:
            if alert.kind == INCIDENT_KIND:
                continue  # an overrun alert of the desk's own
            if alert.state == "firing":
                self._fire(alert, now_ms, changes)
            elif alert.state == "resolved":
                self._resolve(alert, now_ms, changes)
        return changes

    def _fire(self, alert: Alert, now_ms: int, changes: Changes) -> None:
        key = (alert.alert_id, alert.since)
        desks = self._routing.desks(alert.rule)
        if key in self._holder or not desks:
            return  # a repeat of an episode it holds, or a rule of device health
        codes = {desk.code for desk in desks}
        case = next((case for case in self._open.values()
                     if case.incident.district == alert.district
                     and case.incident.category in codes
                     and case.takes_alerts(now_ms, self._window_ms)), None)
        episode = IncidentAlert(alert_id=alert.alert_id, rule=alert.rule, sensor=alert.sensor,
                                kind=alert.kind, severity=alert.severity, since=alert.since,
                                fired=alert.ts)
        if case is None:
            self._open_case(alert, desks[0], episode, now_ms, changes)
            return
        self._holder[key] = case.incident.incident_id
        case.add(key, episode)
        case.active.add(key)
        self._change(case, now_ms, "alert", changes, severity=max(
            case.incident.severity, alert.severity, key=SEVERITIES.index), resolved_at=None)
        self._audit(case, changes, "alert", SYSTEM,
                    f"{alert.rule} on {alert.sensor}: {alert.message}")

    def _open_case(self, alert: Alert, department: Department, episode: IncidentAlert,
                   now_ms: int, changes: Changes) -> None:
        district_wide = alert.sensor == f"{_DISTRICT_WIDE}{alert.district}"
        site = None if district_wide else self._sites.get(alert.sensor)
        new_id = new_incident_id(alert.district, department.code, alert)
        incident = Incident(
            v=VERSION, incident_id=new_id, district=alert.district, street=site or "",
            category=department.code, department=str(department),
            cause=f"{alert.rule} on {alert.sensor}: {alert.message}"[:1024],
            severity=alert.severity, stage="accepted", opened=now_ms, ts=now_ms,
            stage_since=now_ms, due=self._limits.due("accepted", now_ms), overrun=False,
            change="opened", alerts=[episode], alerts_total=1, active_alerts=1)
        case = _Case(incident, alert.sensor, located=district_wide or site is not None)
        key = (alert.alert_id, alert.since)
        case.add(key, episode)
        case.active.add(key)
        self._open[new_id] = case
        self._holder[key] = new_id
        changes.incidents.append(incident)
        self._audit(case, changes, "opened", SYSTEM, incident.cause)

    def _resolve(self, alert: Alert, now_ms: int, changes: Changes) -> None:
        key = (alert.alert_id, alert.since)
        holder = self._holder.get(key)
        case = self._open.get(holder) if holder is not None else None
        if case is None or key not in case.active:
            return
        case.members[key] = msgspec.structs.replace(case.members[key], resolved=alert.ts)
        case.active.discard(key)
        resolved_at = None if case.active else now_ms
        self._change(case, now_ms, "resolved", changes, resolved_at=resolved_at)
        if resolved_at is not None:
            self._audit(case, changes, "all-resolved", SYSTEM,
                        f"All {len(case.members)} alerts resolved; the incident stays open "
                        "until an operator closes it.")

    # -- operators -----------------------------------------------------------------

    def transition(self, incident_id: str, to: IncidentStage, by: str, note: str,
                   now_ms: int) -> Changes:
        """Move an open incident to stage `to` for operator `by`.

        Raises:
            TransitionRefusedError: the incident is not open here (`unknown-incident`),
                or the move is not one its stage allows (`illegal-transition`).
        """
        case = self._open.get(incident_id)
        if case is None:
            raise TransitionRefusedError(UNKNOWN, f"Incident {incident_id} is not open: it is "
                                                  "unknown, or closed already.")
        stage = case.incident.stage
        if (why := refusal(incident_id, stage, to)) is not None:
            raise TransitionRefusedError(ILLEGAL, why)
        changes = Changes()
        minutes = (now_ms - case.incident.stage_since) / 60_000
        if case.overrun is not None:
            changes.alerts.append(_with(case.overrun, state="resolved", ts=now_ms,
                                        message=f"Moved from {stage} to {to} after "
                                                f"{minutes:.0f} min."))
            case.overrun = None
        self._change(case, now_ms, "transition", changes, stage=to, stage_since=now_ms,
                     due=self._limits.due(to, now_ms), overrun=False, by=by, note=note)
        incident = case.incident
        changes.audit.append(AuditEntry(
            incident.incident_id, incident.district, incident.category, incident.ts,
            "transition", by, stage,
            f"{stage} → {to} after {minutes:.0f} min", note, to, round(minutes, 2)))
        if to == "closed":
            del self._open[incident_id]
            for key in case.members:
                self._holder.pop(key, None)
        return changes

    def acknowledge(self, alert_id: str, by: str, note: str, now_ms: int) -> Alert | None:
        """Acknowledge a firing overrun alert; None when no such alert is firing."""
        for case in self._open.values():
            alert = case.overrun
            if alert is not None and alert.alert_id == alert_id and alert.state == "firing":
                case.overrun = _with(alert, state="acknowledged", ts=now_ms, acked_by=by,
                                     note=note)
                return case.overrun
        return None

    # -- the clock -----------------------------------------------------------------

    def tick(self, now_ms: int) -> Changes:
        """Fire the overrun alert of every open stage past its limit at `now_ms`."""
        changes = Changes()
        for case in self._open.values():
            incident = case.incident
            if incident.overrun or incident.due is None or now_ms < incident.due:
                continue
            case.overrun = self._overrun_alert(incident, now_ms)
            changes.alerts.append(case.overrun)
            self._change(case, now_ms, "overrun", changes, overrun=True)
            self._audit(case, changes, "overrun", SYSTEM, case.overrun.message)
        return changes

    def _overrun_alert(self, incident: Incident, now_ms: int) -> Alert:
        due = incident.due if incident.due is not None else now_ms
        minutes = (due - incident.stage_since) / 60_000
        rule = overrun_rule(incident.stage)
        return Alert(
            v=VERSION, alert_id=fingerprint(rule, incident.incident_id), rule=rule,
            sensor=incident.incident_id, kind=INCIDENT_KIND, district=incident.district,
            state="firing", severity=incident.severity, ts=now_ms, since=due,
            value=round((now_ms - incident.stage_since) / 60_000, 1),
            message=f"Incident {incident.incident_id} ({incident.department}) has been "
                    f"{incident.stage} ({STAGE_NAMES_ZH[incident.stage]}) past its limit "
                    f"of {minutes:.0f} min.")

    # -- streets -------------------------------------------------------------------

    def unlocated(self) -> set[str]:
        """Return the sensors whose site the street of an open incident waits for."""
        return {case.sensor for case in self._open.values() if not case.located}

    def locate(self, now_ms: int) -> Changes:
        """Give each open incident waiting for its street the site `sites` now holds."""
        changes = Changes()
        for case in self._open.values():
            site = None if case.located else self._sites.get(case.sensor)
            if site is not None:
                case.located = True
                self._change(case, now_ms, "located", changes, street=site[:256])
        return changes

    # -- restart -------------------------------------------------------------------

    def restore(self, incidents: Iterable[Incident], active: Iterable[Alert],
                now_ms: int) -> Changes:
        """Take back the open incidents of the ingester's own record, after a restart.

        `active` are the active alerts of the same record: an episode an incident
        lists as active that is not among them resolved while the ingester was
        away (its state change is recorded, the incident's is not), and an overrun
        alert that is, is the incident's again. Returns what that reconciliation
        changed, and the overrun alerts to resolve (of incidents no longer open)
        or to fire (of overrun stages without one).
        """
        changes = Changes()
        live = {(alert.alert_id, alert.since) for alert in active
                if alert.kind != INCIDENT_KIND}
        overruns = {alert.alert_id: alert for alert in active if alert.kind == INCIDENT_KIND}
        for incident in sorted(incidents, key=lambda one: (one.opened, one.incident_id)):
            if incident.stage == "closed" or not incident.alerts:
                continue
            opener = incident.alerts[0]
            case = _Case(msgspec.structs.replace(incident, sig=None), opener.sensor,
                         located=bool(incident.street)
                         or opener.sensor == f"{_DISTRICT_WIDE}{incident.district}")
            case.unlisted = incident.alerts_total - len(incident.alerts)
            for episode in incident.alerts:
                key = (episode.alert_id, episode.since)
                case.add(key, episode)
                self._holder[key] = incident.incident_id
                if episode.resolved is None:
                    case.active.add(key)
            self._open[incident.incident_id] = case
            gone = {key for key in case.active if key not in live}
            for key in gone:
                case.members[key] = msgspec.structs.replace(case.members[key], resolved=now_ms)
                case.active.discard(key)
            if gone:
                self._change(case, now_ms, "resolved", changes, resolved_at=None if case.active
                             else case.incident.resolved_at or now_ms)
            if incident.overrun:
                alert_id = fingerprint(overrun_rule(incident.stage), incident.incident_id)
                case.overrun = overruns.pop(alert_id, None)
                if case.overrun is None:
                    case.overrun = self._overrun_alert(case.incident, now_ms)
                    changes.alerts.append(case.overrun)
        for stale in overruns.values():  # its incident moved on or closed meanwhile
            changes.alerts.append(_with(stale, state="resolved", ts=max(now_ms, stale.ts),
                                        message="The incident is no longer in that stage."))
        return changes

    # -- building states -------------------------------------------------------------

    def _change(self, case: _Case, now_ms: int, change: IncidentChange, changes: Changes,
                **fields: object) -> None:
        """Make the next state of `case`, stamped strictly after its last one."""
        incident = msgspec.structs.replace(
            case.incident, ts=max(now_ms, case.incident.ts + 1), change=change,
            alerts=case.listed(), alerts_total=len(case.members) + case.unlisted,
            active_alerts=len(case.active), by=None, note=None)
        case.incident = msgspec.structs.replace(incident, **fields)
        changes.incidents.append(case.incident)

    @staticmethod
    def _audit(case: _Case, changes: Changes, action: str, by: str, detail: str,
               note: str = "") -> None:
        incident = case.incident
        changes.audit.append(AuditEntry(incident.incident_id, incident.district,
                                        incident.category, incident.ts, action, by,
                                        incident.stage, detail[:1024], note))


def _with(alert: Alert, **changes: object) -> Alert:
    return msgspec.structs.replace(alert, **changes)
