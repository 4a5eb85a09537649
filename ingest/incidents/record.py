"""The ingester's own record of its incidents in InfluxDB, and reading it back after a restart.

`incidents` holds one point per incident state change (the whole state, so its
newest point is the incident), `incident_audit` one per action of the audit
trail. A restarted ingester takes its open incidents back from `incidents`,
never from the broker's retained incident topics: anyone with publish rights
there could retain a forgery, but only the ingester writes these measurements
(docs/incidents.md, "Record").

    incidents       tags incident_id, district, category, stage
                    fields street, department, cause, severity, opened, stage_since,
                    due, overrun, change, alerts (JSON), alerts_total, active_alerts,
                    resolved_at, by, note
    incident_audit  tags incident_id, district, category, action, stage
                    fields by, detail, note, to, minutes
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Final

import msgspec

from ingest.alerts.record import LATEST_STATES, active_alerts
from ingest.history import History
from ingest.incidents.changes import AuditEntry
from urbanpulse.births import SENSORS_MEASUREMENT
from urbanpulse.incidents import AUDIT_MEASUREMENT, INCIDENTS_MEASUREMENT, OPEN_STAGES, incident_of
from urbanpulse.influxql import Series, quote_identifier, tag_equals
from urbanpulse.lineprotocol import FieldValue, encode_fields, encode_point, series_key
from urbanpulse.messages import Alert, Incident, encoder

log = logging.getLogger(__name__)

NEWEST_STATES: Final = (f"SELECT * FROM {quote_identifier(INCIDENTS_MEASUREMENT)} "
                        f"GROUP BY {quote_identifier('incident_id')} ORDER BY time DESC LIMIT 1")
"""The newest point of every incident: its current state."""


def incident_point(incident: Incident) -> str:
    """Return the `incidents` point of one incident state."""
    fields: dict[str, FieldValue] = {
        "street": incident.street, "department": incident.department, "cause": incident.cause,
        "severity": incident.severity, "opened": incident.opened,
        "stage_since": incident.stage_since, "overrun": incident.overrun,
        "change": incident.change, "alerts_total": incident.alerts_total,
        "active_alerts": incident.active_alerts}
    for name, value in (("due", incident.due), ("resolved_at", incident.resolved_at),
                        ("by", incident.by), ("note", incident.note)):
        if value is not None:
            fields[name] = value
    tags = {"incident_id": incident.incident_id, "district": incident.district,
            "category": incident.category, "stage": incident.stage}
    episodes = _string_field(encoder.encode(incident.alerts).decode())
    return (f"{series_key(INCIDENTS_MEASUREMENT, tags)} {encode_fields(fields)},"
            f"alerts={episodes} {incident.ts}")


def _string_field(text: str) -> str:
    """Return a string field value as line protocol carries it: quoted, `"` and `\\` escaped.

    `urbanpulse.lineprotocol.format_field` escapes the same two with `str.translate`,
    which takes about 2 ms on the 26 KB of a full incident's episodes (JSON is mostly
    quotes); two `str.replace` take 80 µs (bench/incidents.py).
    """
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def audit_point(entry: AuditEntry) -> str:
    """Return the `incident_audit` point of one audit entry."""
    fields: dict[str, FieldValue] = {"by": entry.by, "detail": entry.detail}
    if entry.note:
        fields["note"] = entry.note
    if entry.to is not None:
        fields["to"] = entry.to
    if entry.minutes is not None:
        fields["minutes"] = float(entry.minutes)
    tags = {"incident_id": entry.incident_id, "district": entry.district,
            "category": entry.category, "action": entry.action, "stage": entry.stage}
    return encode_point(AUDIT_MEASUREMENT, tags, fields, entry.ts)


def open_incidents(series: list[Series], districts: Collection[str]) -> list[Incident]:
    """Return the open incidents among the newest states, in `districts` (empty: all)."""
    found = []
    for one in series:
        for row in one.rows():
            try:
                incident = incident_of({**row, **one.tags})
            except (msgspec.ValidationError, msgspec.DecodeError, KeyError) as exc:
                log.warning("ignored an unreadable `incidents` point (%s): %.200r", exc, row)
                continue
            if incident is not None and incident.stage in OPEN_STAGES and (
                    not districts or incident.district in districts):
                found.append(incident)
    return found


async def read_open(history: History, districts: Collection[str]
                    ) -> tuple[list[Incident], list[Alert]]:
    """Read the open incidents and the active alerts of `districts` from the ingester's
    record, in one request, waiting while InfluxDB cannot answer.

    Raises:
        IngestError: InfluxDB refused the query (the ingester's user cannot read).
    """
    found: tuple[list[Series], list[Series]] = ([], [])
    await history.read([NEWEST_STATES, LATEST_STATES],
                       lambda statement, one: found[statement].append(one))
    return open_incidents(found[0], districts), active_alerts(found[1], districts)


async def read_sites(history: History, sensors: Collection[str]) -> dict[str, str]:
    """Return the site of each of `sensors` InfluxDB holds a birth of (its newest birth)."""
    if not sensors:
        return {}
    match = " OR ".join(tag_equals("sensor", sensor) for sensor in sorted(sensors))
    sites: dict[str, str] = {}

    def take(_: int, one: Series) -> None:
        for row in one.rows():
            if isinstance(row.get("site"), str) and "sensor" in one.tags:
                sites[one.tags["sensor"]] = row["site"]

    await history.read([f'SELECT "site" FROM {quote_identifier(SENSORS_MEASUREMENT)} '
                        f'WHERE ({match}) GROUP BY {quote_identifier("sensor")} '
                        "ORDER BY time DESC LIMIT 1"], take)
    return sites
