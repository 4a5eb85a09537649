"""`/v1/alerts`: alert states, acknowledgement, and a live stream (SSE).

The active alerts up to now (`state` pending, firing or acknowledged, no `end`)
come from the latest state in memory once loaded; other lists and histories
from InfluxDB.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from api.alert_store import ACTIVE_STATES, AlertStore
from api.answers import json_answer
from api.broker import AlertFeed, acknowledge
from api.deps import AckLedgerDep, AlertStoreDep, ApiKeyDep, LiveDep, SettingsDep, influx_for
from api.live import LiveState
from api.models import (
    INFLUX_ERRORS,
    AckRequest,
    Alert,
    AlertDetail,
    AlertPage,
    ErrorDetail,
    json_error,
)
from api.params import (
    ALERT_SPAN,
    AlertDistrictQuery,
    AlertIdPath,
    AlertKindQuery,
    AlertOffsetQuery,
    AlertStartQuery,
    EndQuery,
    HistoryQuery,
    LimitQuery,
    SensorQuery,
    SeverityQuery,
    StateQuery,
    resolve_range,
)
from api.routes.signed import check_text, follow, newer, require_alert_key
from urbanpulse.topics import alert_subscription

router = APIRouter(prefix="/alerts", tags=["alerts"])

_BROKER_ERRORS: dict[int | str, dict[str, Any]] = {
    503: json_error("The MQTT broker is unreachable, or the server has no alert key "
                    "(URBANPULSE_ALERT_KEY) to tell the ingester's states from forged ones"),
}
_ACK_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorDetail, "description": "The body cannot be read as JSON text "
                                               "(FastAPI's answer to bytes that are not UTF-8)"},
    401: {"model": ErrorDetail, "description": "No X-API-Key header"},
    403: {"model": ErrorDetail, "description": "The X-API-Key header holds a wrong key"},
    404: {"model": ErrorDetail, "description": "The alert is unknown or not active"},
    409: {"model": ErrorDetail, "description": "The alert is already acknowledged, or "
                                               "another acknowledgement of it is under way"},
    413: {"model": ErrorDetail,
          "description": "The body is over URBANPULSE_API_MAX_BODY_BYTES bytes"},
    502: INFLUX_ERRORS[502],
    503: {"model": ErrorDetail, "description": "The server has no API key or no alert key "
                                               "configured, or InfluxDB or the MQTT broker "
                                               "is unreachable"},
    504: {"model": ErrorDetail, "description": "The ingester did not confirm in time"},
}


def _unknown(alert_id: str) -> HTTPException:
    return HTTPException(
        status_code=404,
        detail=f"Unknown alert {alert_id!r}: InfluxDB holds no state change of it.")


@router.get("", summary="List alerts in their current state", response_model=AlertPage,
            responses=INFLUX_ERRORS)
async def list_alerts(*, request: Request, settings: SettingsDep, live: LiveDep,
                      state: StateQuery = None, kind: AlertKindQuery = None,
                      district: AlertDistrictQuery = None, severity: SeverityQuery = None,
                      sensor: SensorQuery = None, start: AlertStartQuery = None,
                      end: EndQuery = None, limit: LimitQuery = 100,
                      offset: AlertOffsetQuery = 0) -> Response:
    """List the alerts that changed state in [start, end), newest change first.

    Each alert appears once, in its newest state within the range; `state`
    filters on that state. The range defaults to the last 24 hours and may span
    at most `URBANPULSE_API_MAX_RANGE_S` seconds. A range up to now comes from
    memory: the active alerts in any range, the others when the range starts
    within the last 25 hours (`api.recent`); other ranges from InfluxDB.
    """
    start_ms, end_ms = resolve_range(start, end, now=datetime.now(UTC),
                                     max_range_s=settings.api_max_range_s, span=ALERT_SPAN)
    if live is not None and end is None:
        found = _held_alerts(live, state=state, district=district, start_ms=start_ms,
                             end_ms=end_ms)
        if found is not None:
            if kind is not None or severity is not None or sensor is not None:
                found = [alert for alert in found if kind in (None, alert.kind)
                         and severity in (None, alert.severity) and sensor in (None, alert.sensor)]
            return json_answer(live.answers.alert_page(
                found[offset:offset + limit], total=len(found), limit=limit, offset=offset))
    async with influx_for(request) as influx:
        page = await AlertStore(influx).list_alerts(
            start_ms=start_ms, end_ms=end_ms, state=state, kind=kind, district=district,
            severity=severity, sensor=sensor, limit=limit, offset=offset)
    return json_answer(page.__pydantic_serializer__.to_json(page))


def _held_alerts(live: LiveState, *, state: str | None, district: str | None, start_ms: int,
                 end_ms: int) -> Sequence[Alert] | None:
    """Return the alerts (of `district`, in `state`) changed in [start, now) as memory holds
    them, newest first; None when it may not hold them all (the range starts too early)."""
    if state in ACTIVE_STATES:
        return live.held_alerts(state=state, district=district, start_ms=start_ms,
                                end_ms=end_ms)
    if not live.recent_alerts.covers(start_ms, now_ms=end_ms):
        return None
    found = live.recent_alerts.between(start_ms, end_ms, district=district)
    return found if state is None else [alert for alert in found if alert.state == state]


async def _open_feed(settings: SettingsDep, district: AlertDistrictQuery = None,
                     kind: AlertKindQuery = None) -> AsyncIterator[AlertFeed]:
    require_alert_key(settings, "cannot tell the ingester's alert states from forged ones")
    topic_filter = alert_subscription(root=settings.topic_root,
                                      district="+" if district is None else district,
                                      kind="+" if kind is None else kind)
    async with AlertFeed(settings, topic_filter, purpose="stream") as feed:
        yield feed


@router.get("/stream", summary="Live alert states (server-sent events)",
            response_class=EventSourceResponse, responses=_BROKER_ERRORS)
async def stream_alerts(feed: Annotated[AlertFeed, Depends(_open_feed)],
                        settings: SettingsDep) -> AsyncIterable[ServerSentEvent]:
    """Stream alert states as server-sent events, one `event: alert` per state.

    First comes every active alert (the broker's retained alert topics), then
    every state change as the ingester publishes it, including `resolved`. Only
    states the ingester signed are shown: one retained or published by anyone
    else is dropped. Each event's `data` is the contract's `Alert` message (the
    JSON MQTT subscribers get, with `"v": 1` and the signature `sig`). `district`
    and `kind` narrow the subscription. The stream ends when the client
    disconnects, when the api loses the broker, or after
    `URBANPULSE_API_STREAM_MAX_S` seconds (reconnect to get the active alerts
    again; an EventSource does so by itself).
    """
    async for event in follow(feed, settings, event="alert"):
        yield event


@router.get("/{alert_id}", summary="One alert and its state changes",
            responses={404: {"model": ErrorDetail, "description": "Unknown alert"},
                       **INFLUX_ERRORS})
async def get_alert(*, alert_id: AlertIdPath, store: AlertStoreDep, settings: SettingsDep,
                    live: LiveDep, start: AlertStartQuery = None, end: EndQuery = None,
                    limit: HistoryQuery = 100) -> AlertDetail:
    """Return an alert's newest state and its history, newest change first.

    Without `start` and `end` the history is the last `limit` state changes; with
    either, the changes in [start, end) (default: the 24 hours before end), at
    most `limit` of them.
    """
    bounds: tuple[int | None, int | None] = (None, None)
    if start is not None or end is not None:
        bounds = resolve_range(start, end, now=datetime.now(UTC),
                               max_range_s=settings.api_max_range_s, span=ALERT_SPAN)
    current = await _current(alert_id, store, live)
    if current is None:
        raise _unknown(alert_id)
    history = await store.history(alert_id, start_ms=bounds[0], end_ms=bounds[1], limit=limit)
    return AlertDetail(**current.model_dump(), history=history)


@router.post("/{alert_id}/ack", summary="Acknowledge an alert", dependencies=[ApiKeyDep],
             responses=_ACK_ERRORS)
async def ack_alert(alert_id: AlertIdPath, body: AckRequest, store: AlertStoreDep,
                    settings: SettingsDep, ledger: AckLedgerDep, live: LiveDep) -> Alert:
    """Acknowledge a pending or firing alert and return its `acknowledged` state.

    Needs the server's key in `X-API-Key`. `by` and `note` may hold no control
    characters (a note may hold tabs and line feeds) nor bidi overrides. The api
    publishes a signed ack command on MQTT and answers once the ingester has
    published the new state on the alert's topic, or 504 after
    `URBANPULSE_API_ACK_TIMEOUT_S` seconds. Of two acks at once, the second gets
    409 at once.
    """
    require_alert_key(settings, "cannot sign ack commands and accepts none")
    check_text(body.by, body.note)
    if not ledger.claim(alert_id):
        raise HTTPException(status_code=409,
                            detail=f"Alert {alert_id!r} is being acknowledged by another "
                                   "request right now.")
    try:
        current = await _current(alert_id, store, live)
        if current is None:
            raise _unknown(alert_id)
        if current.state == "resolved":
            raise HTTPException(status_code=404,
                                detail=f"Alert {alert_id!r} is not active: it resolved at "
                                       f"{_iso(current.ts)}.")
        acked = ledger.acked(current) if current.state != "acknowledged" else current
        if acked is not None:
            raise _already(acked)
        acked = await acknowledge(settings, current, by=body.by, note=body.note)
        ledger.record(acked)
        if (acked.acked_by, acked.note or "") != (body.by, body.note):
            raise _already(acked)  # another worker's acknowledgement won the race
        return acked
    finally:
        ledger.release(alert_id)


async def _current(alert_id: str, store: AlertStore, live: LiveState | None) -> Alert | None:
    """Return the newer of the alert's state in memory and in InfluxDB.

    The ingester publishes a state before its batch reaches InfluxDB: an alert
    the list shows as firing (from memory) may not be in InfluxDB yet, and one
    that resolved is no longer held in memory.
    """
    return newer(live.alert(alert_id) if live is not None else None,
                 await store.current(alert_id))


def _already(acked: Alert) -> HTTPException:
    return HTTPException(status_code=409,
                         detail=f"Alert {acked.alert_id!r} is already acknowledged by "
                                f"{acked.acked_by!r} at {_iso(acked.ts)}.")


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds")
