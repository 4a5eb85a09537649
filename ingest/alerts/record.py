"""The ingester's own record of its alerts: the newest state of each in InfluxDB's `alerts`.

A restart takes its active alerts back from here, never from the broker's
retained alert topics: anyone with publish rights on `city/alerts/…` can retain
a message there, but only the ingester writes the `alerts` measurement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import httpx
import msgspec

from ingest import IngestError
from ingest.history import retry_after
from ingest.points import ALERTS_MEASUREMENT
from urbanpulse.influxql import Series, quote_identifier
from urbanpulse.messages import VERSION, Alert

log = logging.getLogger(__name__)

ACTIVE_STATES = frozenset({"pending", "firing", "acknowledged"})
LATEST_STATES = (f"SELECT * FROM {quote_identifier(ALERTS_MEASUREMENT)} "
                 f"GROUP BY {quote_identifier('alert_id')} ORDER BY time DESC LIMIT 1")
"""The newest point of every alert: its current state."""


class RecordUnavailableError(IngestError):
    """InfluxDB could not answer the record query now: unreachable, a timeout, 429 or 5xx."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        """How long the server asked us to wait (`Retry-After`, in seconds), if it said."""


class _Result(msgspec.Struct):
    series: list[Series] = []
    error: str | None = None


class _Response(msgspec.Struct):
    results: list[_Result] = []
    error: str | None = None


def _alert(row: Mapping[str, Any]) -> Alert | None:
    """Return the alert state of one `alerts` row, or None for a row InfluxDB is still writing."""
    if row.get("message") is None or row.get("since") is None:
        return None
    value = row.get("value")
    return msgspec.convert({
        "v": VERSION, "alert_id": row["alert_id"], "rule": row["rule"], "sensor": row["sensor"],
        "kind": row["kind"], "district": row["district"], "state": row["state"],
        "severity": row["severity"], "ts": row["time"], "since": int(row["since"]),
        "message": row["message"], "value": None if value is None else float(value),
        "acked_by": row.get("acked_by"), "note": row.get("note")}, Alert)


def active_alerts(series: list[Series], districts: Collection[str]) -> list[Alert]:
    """Return the active alerts among the newest states, in `districts` (empty: all)."""
    active = []
    for one in series:
        for row in one.rows():
            try:
                alert = _alert({**row, **one.tags})
            except (msgspec.ValidationError, KeyError, TypeError, ValueError) as exc:
                log.warning("ignored an unreadable `alerts` point (%s): %.200r", exc, row)
                continue
            if alert is not None and alert.state in ACTIVE_STATES and (
                    not districts or alert.district in districts):
                active.append(alert)
    return active


async def read_active(*, url: str, database: str, headers: Mapping[str, str],
                      districts: Collection[str], timeout_s: float) -> list[Alert]:
    """Query InfluxDB for the active alerts of `districts`.

    Raises:
        RecordUnavailableError: InfluxDB is unreachable, timed out, or answered 429 or 5xx.
        IngestError: InfluxDB refused the query (401/403: the ingester's user lacks read
            rights) or failed it otherwise.
    """
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        try:
            response = await client.post(f"{url.rstrip('/')}/query", headers=dict(headers),
                                         data={"db": database, "q": LATEST_STATES,
                                               "epoch": "ms"})
        except httpx.TransportError as exc:
            raise RecordUnavailableError(
                f"Could not read the alert record from InfluxDB at {url}: "
                f"{type(exc).__name__}: {exc}.") from None
    if response.status_code in (401, 403):
        raise IngestError(
            f"InfluxDB at {url} refused to let the ingester read its alert record "
            f"({response.status_code}); the ingester's user needs read as well as write "
            f"rights on database {database!r}.")
    try:
        body = msgspec.json.decode(response.content, type=_Response)
    except msgspec.DecodeError:
        body = _Response(error=response.text[:200])
    failure = body.error or next((result.error for result in body.results if result.error),
                                 None)
    if response.status_code == 429 or response.status_code >= 500:
        raise RecordUnavailableError(
            f"InfluxDB at {url} could not answer the alert record query now "
            f"({response.status_code}: {failure or response.text[:200]}).",
            retry_after(response))
    if response.status_code != 200 or failure:
        raise IngestError(f"InfluxDB at {url} failed the alert record query "
                          f"({response.status_code}: {failure or response.text[:200]}).")
    return active_alerts([one for result in body.results for one in result.series], districts)


async def wait_for_active(*, url: str, database: str, headers: Mapping[str, str],
                          districts: Collection[str], timeout_s: float, retry_max_s: float,
                          sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
                          ) -> list[Alert]:
    """Read the active alerts of `districts`, waiting while InfluxDB cannot answer.

    An unreachable server, a timeout, 429 or a 5xx is waited for, as the start-up
    check waits for InfluxDB (`Retry-After` honoured, at most `retry_max_s` between
    attempts); a refusal (no read rights, a failed query) stops the ingester.

    Raises:
        IngestError: InfluxDB refused or failed the query for good.
    """
    attempt = 0
    while True:
        try:
            return await read_active(url=url, database=database, headers=headers,
                                     districts=districts, timeout_s=timeout_s)
        except RecordUnavailableError as exc:
            delay = exc.retry_after_s
            if delay is None:
                delay = 0.2 * 2 ** min(attempt, 6)
            delay = min(delay, retry_max_s)
            if attempt % 10 == 0:
                log.warning("%s Waiting %.2f s before reading it again.", exc, delay)
            attempt += 1
            await sleep(delay)
