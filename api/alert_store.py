"""Alert states and histories, read from the `alerts` measurement with InfluxQL.

The ingester writes one point per alert state change: tags `alert_id`, `rule`,
`sensor`, `kind`, `district`, `severity`, `state`; fields `message`, `since`
(integer ms) and, when present, `value`, `acked_by`, `note`; time = the change.
The current state of an alert is its newest point. The state is a tag, so one
alert spans several series; queries group by `alert_id` (or select one alert)
to put them back together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.influx import InfluxQuery
from api.models import Alert, AlertPage
from urbanpulse.influxql import Series, quote_identifier, tag_equals, time_from, where
from urbanpulse.kinds.summaries import DAY_MS

ALERTS = "alerts"
ACTIVE_STATES = frozenset({"pending", "firing", "acknowledged"})
"""States of an alert whose condition has not resolved (the ingester's active alerts)."""
ACTIVE_LOOKBACK_MS = 31 * DAY_MS
"""How far back from its time a summary looks for the newest state of each alert.

The ingester writes an alert only when its state changes, never again while it
stays active, so an alert active for longer without a change drops out of the
summary's counts (its retained topic, the stream and `/v1/alerts/{id}` still show
it). 31 days outlasts the compose bucket's retention (30 days), which drops older
changes anyway; on a database that keeps everything, the scan stays bounded."""


def _time_range(start_ms: int | None, end_ms: int | None) -> tuple[str, str]:
    return ("" if start_ms is None else f"time >= {start_ms}ms",
            "" if end_ms is None else f"time < {end_ms}ms")


def _alert_from_row(row: Mapping[str, Any]) -> Alert:
    value = row.get("value")
    return Alert(
        alert_id=row["alert_id"], rule=row["rule"], sensor=row["sensor"], kind=row["kind"],
        district=row["district"], state=row["state"], severity=row["severity"],
        ts=row["time"], since=int(row["since"]), message=row["message"],
        value=None if value is None else float(value),
        acked_by=row.get("acked_by"), note=row.get("note"),
    )


def _alerts(series: list[Series]) -> list[Alert]:
    """Build the alerts of a result, leaving out points InfluxDB is still applying.

    A query that runs while InfluxDB 1.x is writing a point can return some of
    its fields and not others (seen against influxd 1.6: rows with `message` or
    `since` null during writes, none once they stopped). Such a point is not
    there yet: it is left out, and a later query sees it whole.
    """
    return [_alert_from_row({**row, **one.tags}) for one in series for row in one.rows()
            if row.get("message") is not None and row.get("since") is not None]


class AlertStore:
    """Answers the alert routes' questions with InfluxQL queries."""

    def __init__(self, influx: InfluxQuery) -> None:
        self._influx = influx

    async def list_alerts(self, *, start_ms: int, end_ms: int, state: str | None,
                          kind: str | None, district: str | None, severity: str | None,
                          sensor: str | None, limit: int, offset: int) -> AlertPage:
        """Return one page of the alerts changed in [start, end), each in its newest state there.

        The tag filters narrow the query; `state` is applied to the newest state
        of each alert (an alert that fired and then resolved is not `firing`).
        """
        current = [alert for alert in await self.changed(
                       start_ms=start_ms, end_ms=end_ms, kind=kind, district=district,
                       severity=severity, sensor=sensor)
                   if state is None or alert.state == state]
        current.sort(key=lambda alert: (-alert.ts, alert.alert_id))
        return AlertPage(items=current[offset:offset + limit], total=len(current),
                         limit=limit, offset=offset)

    async def changed(self, *, start_ms: int, end_ms: int, kind: str | None = None,
                      district: str | None = None, severity: str | None = None,
                      sensor: str | None = None) -> list[Alert]:
        """Return the alerts changed in [start, end), each in its newest state there."""
        condition = where(*_time_range(start_ms, end_ms), tag_equals("kind", kind),
                          tag_equals("district", district), tag_equals("severity", severity),
                          tag_equals("sensor", sensor))
        return _alerts(await self._influx.query(
            f"SELECT * FROM {quote_identifier(ALERTS)}{condition} "
            f"GROUP BY {quote_identifier('alert_id')} ORDER BY time DESC LIMIT 1"))

    async def history(self, alert_id: str, *, start_ms: int | None = None,
                      end_ms: int | None = None, limit: int) -> list[Alert]:
        """Return the newest `limit` state changes of an alert, in [start, end) when given."""
        condition = where(tag_equals("alert_id", alert_id), *_time_range(start_ms, end_ms))
        series = await self._influx.query(
            f"SELECT * FROM {quote_identifier(ALERTS)}{condition} "
            f"ORDER BY time DESC LIMIT {limit}")
        return _alerts(series)

    async def active(self, *, district: str | None, end_ms: int) -> list[Alert]:
        """Return the alerts whose newest state at or before `end_ms` is an active one,
        among those that changed in the `ACTIVE_LOOKBACK_MS` before it."""
        condition = where(time_from(end_ms - ACTIVE_LOOKBACK_MS), f"time <= {end_ms}ms",
                          tag_equals("district", district))
        series = await self._influx.query(
            f"SELECT * FROM {quote_identifier(ALERTS)}{condition} "
            f"GROUP BY {quote_identifier('alert_id')} ORDER BY time DESC LIMIT 1")
        return [alert for alert in _alerts(series) if alert.state in ACTIVE_STATES]

    async def current(self, alert_id: str) -> Alert | None:
        """Return the newest state of an alert, or None when InfluxDB holds none."""
        changes = await self.history(alert_id, limit=1)
        return changes[0] if changes else None
