"""Incident states and audit trails, read from the ingester's `incidents` and `incident_audit`.

The ingester writes the whole state of an incident at each change, so its
newest point is the incident (`urbanpulse.incidents.incident_of` reads it back,
as the ingester does after a restart). The stage is a tag, so one incident spans
several series: lists group by `incident_id`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from api.incident_models import AuditEntry, IncidentPage, in_stage, summary_of
from api.influx import InfluxQuery
from urbanpulse.incidents import AUDIT_MEASUREMENT, INCIDENTS_MEASUREMENT, incident_of
from urbanpulse.influxql import Series, quote_identifier, tag_equals, time_from, where
from urbanpulse.messages import Incident

logger = logging.getLogger(__name__)
_BY_INCIDENT: Final = f"GROUP BY {quote_identifier('incident_id')} ORDER BY time DESC LIMIT 1"


def _incidents(series: list[Series]) -> list[Incident]:
    """Return the incident states of a result, leaving out rows InfluxDB is still writing."""
    found = []
    for one in series:
        for row in one.rows():
            try:
                incident = incident_of({**row, **one.tags})
            except (msgspec.ValidationError, msgspec.DecodeError, KeyError) as exc:
                logger.warning("ignored an unreadable `incidents` point (%s): %.200r", exc, row)
                continue
            if incident is not None:
                found.append(incident)
    return found


def _audit(row: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(ts=row["time"], action=row["action"], by=row["by"], stage=row["stage"],
                      to=row.get("to"), minutes=row.get("minutes"), detail=row["detail"],
                      note=row.get("note"))


class IncidentStore:
    """Answers the incident routes' questions with InfluxQL queries."""

    def __init__(self, influx: InfluxQuery) -> None:
        self._influx = influx

    async def list_incidents(self, *, start_ms: int, end_ms: int, district: str | None,
                             category: str | None, stage: str | None, is_open: bool | None,
                             limit: int, offset: int) -> IncidentPage:
        """Return one page of the incidents changed in [start, end), each in its newest state
        there; `stage` and `is_open` filter on that state."""
        found = [incident for incident in await self.changed(
                     start_ms=start_ms, end_ms=end_ms, district=district, category=category)
                 if in_stage(incident.stage, wanted=stage, is_open=is_open)]
        found.sort(key=lambda incident: (-incident.ts, incident.incident_id))
        return IncidentPage(items=[summary_of(incident)
                                   for incident in found[offset:offset + limit]],
                            total=len(found), limit=limit, offset=offset)

    async def changed(self, *, start_ms: int, end_ms: int, district: str | None = None,
                      category: str | None = None) -> list[Incident]:
        """Return the incidents changed in [start, end), each in its newest state there."""
        condition = where(time_from(start_ms), f"time < {end_ms}ms",
                          tag_equals("district", district), tag_equals("category", category))
        return _incidents(await self._influx.query(
            f"SELECT * FROM {quote_identifier(INCIDENTS_MEASUREMENT)}{condition} {_BY_INCIDENT}"))

    async def current(self, incident_id: str) -> Incident | None:
        """Return the newest state of an incident, or None when InfluxDB holds none."""
        series = await self._influx.query(
            f"SELECT * FROM {quote_identifier(INCIDENTS_MEASUREMENT)}"
            f"{where(tag_equals('incident_id', incident_id))} ORDER BY time DESC LIMIT 1")
        found = _incidents(series)
        return found[0] if found else None

    async def audit(self, incident_id: str, *, limit: int) -> list[AuditEntry]:
        """Return the last `limit` entries of an incident's audit trail, oldest first."""
        series = await self._influx.query(
            f"SELECT * FROM {quote_identifier(AUDIT_MEASUREMENT)}"
            f"{where(tag_equals('incident_id', incident_id))} ORDER BY time DESC LIMIT {limit}")
        entries = [_audit({**row, **one.tags}) for one in series for row in one.rows()
                   if row.get("by") is not None and row.get("detail") is not None]
        return sorted(entries, key=lambda entry: entry.ts)
