"""The alerts of a run as InfluxDB stored them, for `urbanpulse score --start --end`.

The statement is built from `urbanpulse.influxql` and sent by the api's InfluxQL
client (`api.influx.InfluxQuery`), or by anything else that `Queries`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from api.influx import HttpxTransport, InfluxQuery
from ingest.points import ALERTS_MEASUREMENT
from urbanpulse.influxql import Queries, quote_identifier, tag_equals, time_from, where
from urbanpulse.messages import VERSION, Alert
from urbanpulse.settings import IngestSettings


def _epoch_ms(moment: datetime) -> int:
    """Return a time in epoch ms; a naive time means UTC, as for `urbanpulse sim --start`."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return int(utc.timestamp() * 1000)


def alerts_statement(start: datetime, end: datetime) -> str:
    """Return the InfluxQL that reads the firing and resolved changes from start until end."""
    changed = " OR ".join(tag_equals("state", state) for state in ("firing", "resolved"))
    return (f"SELECT * FROM {quote_identifier(ALERTS_MEASUREMENT)}"
            f"{where(f'({changed})', time_from(_epoch_ms(start)), f'time < {_epoch_ms(end)}ms')}")


async def query_alerts(influx: Queries, start: datetime, end: datetime) -> list[Alert]:
    """Read the `alerts` measurement between start and end.

    Raises:
        api.errors.InfluxError: InfluxDB is unreachable or refused the query.
    """
    alerts = []
    for series in await influx.query(alerts_statement(start, end)):
        for row in series.rows():
            alerts.append(Alert(
                v=VERSION, alert_id=row["alert_id"], rule=row["rule"], sensor=row["sensor"],
                kind=row["kind"], district=row["district"], state=row["state"],
                severity=row["severity"], ts=int(row["time"]), since=int(row["since"]),
                message=row.get("message") or "", value=row.get("value"),
                acked_by=row.get("acked_by"), note=row.get("note")))
    return alerts


async def read_influx(settings: IngestSettings, start: datetime,
                        end: datetime) -> list[Alert]:
    """Read the alerts between start and end from the InfluxDB of `settings`."""
    async with httpx.AsyncClient(base_url=settings.influx_url,
                                 headers=settings.influx_auth_headers(),
                                 timeout=settings.influx_timeout_s) as client:
        influx = InfluxQuery(HttpxTransport(client), settings.influx_db,
                             where=f"InfluxDB at {settings.influx_url}")
        return await query_alerts(influx, start, end)
