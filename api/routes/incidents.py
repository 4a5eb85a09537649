"""`/v1/incidents`: incidents (事件) to read with the viewer key and to move with the operator key.

Lists, details and audit trails come from InfluxDB (the ingester's `incidents`
and `incident_audit`); the live stream from the broker's incident topics; a
transition is a signed command to the ingester, answered once the ingester has
published the moved incident (docs/incidents.md, "API").
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from api.deps import LiveDep, OperatorKeyDep, SettingsDep, ViewerKeyDep, influx_for
from api.incident_feed import IncidentFeed, move
from api.incident_models import (
    IncidentDetail,
    IncidentPage,
    IncidentState,
    TransitionRequest,
    in_stage,
    state_of,
)
from api.incident_store import IncidentStore
from api.models import INFLUX_ERRORS, ErrorDetail, json_error
from api.params import ALERT_SPAN, AlertStartQuery, EndQuery, resolve_range
from api.routes.signed import check_text, follow, newer, require_alert_key
from urbanpulse.incidents import refusal
from urbanpulse.messages import Incident, IncidentStage
from urbanpulse.topics import NAME_PATTERN, incident_subscription

router = APIRouter(prefix="/incidents", tags=["incidents"])

ID_PATTERN = r"^[0-9a-f]{16}$"
_KEY_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "No X-API-Key header"},
    403: {"model": ErrorDetail, "description": "The X-API-Key header holds no key allowed here"},
}
_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    **_KEY_ERRORS, 502: INFLUX_ERRORS[502],
    503: {"model": ErrorDetail, "description": "The server has no viewer or operator key "
                                               "configured, or InfluxDB is unreachable"},
}
_STREAM_ERRORS: dict[int | str, dict[str, Any]] = {
    401: json_error("No X-API-Key header"),
    403: json_error("The X-API-Key header holds no key allowed here"),
    503: json_error("The server has no viewer or operator key, or no alert key "
                    "(URBANPULSE_ALERT_KEY) to tell the ingester's states from forged ones, or "
                    "the MQTT broker is unreachable"),
}
_MOVE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorDetail, "description": "The body cannot be read as JSON text"},
    **_KEY_ERRORS,
    404: {"model": ErrorDetail, "description": "The incident is unknown"},
    409: {"model": ErrorDetail, "description": "Its stage does not allow the move, another "
                                               "operator moved it first, or another request "
                                               "is moving it now"},
    413: {"model": ErrorDetail,
          "description": "The body is over URBANPULSE_API_MAX_BODY_BYTES bytes"},
    502: INFLUX_ERRORS[502],
    503: {"model": ErrorDetail, "description": "The server has no operator key or no alert "
                                               "key, or InfluxDB or the broker is unreachable"},
    504: {"model": ErrorDetail, "description": "The ingester did not confirm in time"},
}

IncidentIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="Incident id",
                                     examples=["8d3ce8af5fe8cda9"])]
DistrictQuery = Annotated[str | None, Query(pattern=NAME_PATTERN,
                                            description="Only incidents of this district")]
CategoryQuery = Annotated[str | None, Query(
    pattern=NAME_PATTERN, description="Only incidents of this department (its code, such as "
                                      "flood-control)")]
StageQuery = Annotated[IncidentStage | None, Query(
    description="Only incidents whose current stage is this one")]
OpenQuery = Annotated[bool | None, Query(
    alias="open", description="true: only open incidents (then `start` defaults to the "
                              "widest range before `end`); false: only closed ones")]
PageQuery = Annotated[int, Query(ge=1, le=500, description="Most incidents on one page")]
OffsetQuery = Annotated[int, Query(ge=0, le=1_000_000_000,
                                   description="Matching incidents to skip before the page")]
AuditLimitQuery = Annotated[int, Query(ge=1, le=1000,
                                       description="Most audit entries (the newest ones)")]


def _unknown(incident_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"Unknown incident {incident_id!r}: InfluxDB "
                                                 "holds no state of it.")


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds")


@router.get("", summary="List incidents in their current state", response_model=IncidentPage,
            dependencies=[ViewerKeyDep], responses=_READ_ERRORS)
async def list_incidents(*, request: Request, settings: SettingsDep, live: LiveDep,
                         district: DistrictQuery = None, category: CategoryQuery = None,
                         stage: StageQuery = None, is_open: OpenQuery = None,
                         start: AlertStartQuery = None, end: EndQuery = None,
                         limit: PageQuery = 100, offset: OffsetQuery = 0) -> IncidentPage:
    """List the incidents that changed in [start, end), newest change first.

    Each incident appears once, in its newest state within the range; `stage`
    and `open` filter on that state. The range defaults to the last 24 hours
    (with `open=true`, to the widest range, `URBANPULSE_API_MAX_RANGE_S`, so
    every open incident that changed in it shows) and may span at most
    `URBANPULSE_API_MAX_RANGE_S` seconds. A range up to now comes from memory
    (`api.recent`), others from InfluxDB. Needs the viewer or operator key.
    """
    span = timedelta(seconds=settings.api_max_range_s) if is_open else ALERT_SPAN
    start_ms, end_ms = resolve_range(start, end, now=datetime.now(UTC),
                                     max_range_s=settings.api_max_range_s, span=span)
    recent = None if live is None else live.recent_incidents
    if end is None and recent is not None and recent.covers(start_ms, now_ms=end_ms):
        found = [incident for incident in recent.between(start_ms, end_ms, district=district)
                 if category in (None, incident.category)
                 and in_stage(incident.stage, wanted=stage, is_open=is_open)]
        return IncidentPage(items=found[offset:offset + limit], total=len(found), limit=limit,
                            offset=offset)
    async with influx_for(request) as influx:
        return await IncidentStore(influx).list_incidents(
            start_ms=start_ms, end_ms=end_ms, district=district, category=category,
            stage=stage, is_open=is_open, limit=limit, offset=offset)


async def _open_feed(settings: SettingsDep, district: DistrictQuery = None
                     ) -> AsyncIterator[IncidentFeed]:
    require_alert_key(settings, "cannot tell the ingester's incident states from forged ones")
    topic_filter = incident_subscription(root=settings.topic_root,
                                         district="+" if district is None else district)
    async with IncidentFeed(settings, topic_filter, purpose="incident-stream") as feed:
        yield feed


@router.get("/events", summary="Live incident states (server-sent events)",
            response_class=EventSourceResponse, dependencies=[ViewerKeyDep],
            responses=_STREAM_ERRORS)
async def stream_incidents(feed: Annotated[IncidentFeed, Depends(_open_feed)],
                           settings: SettingsDep) -> AsyncIterable[ServerSentEvent]:
    """Stream incident states as server-sent events, one `event: incident` per state.

    First every open incident (the broker's retained incident topics), then
    every change as the ingester publishes it, the closing one included. Only
    states the ingester signed are shown. Each event's `data` is the contract's
    `Incident` message (with `"v": 1` and `sig`). `district` narrows the stream.
    It ends when the client disconnects, when the api loses the broker, or after
    `URBANPULSE_API_STREAM_MAX_S` seconds. Needs the viewer or operator key.
    """
    async for event in follow(feed, settings, event="incident"):
        yield event


@router.get("/{incident_id}", summary="One incident, its alerts and its audit trail",
            dependencies=[ViewerKeyDep],
            responses={404: {"model": ErrorDetail, "description": "Unknown incident"},
                       **_READ_ERRORS})
async def get_incident(*, request: Request, incident_id: IncidentIdPath,
                       limit: AuditLimitQuery = 100) -> IncidentDetail:
    """Return an incident's newest state, its alert episodes and its audit trail.

    The audit trail holds who did what and when: the platform's own actions
    (`by` urbanpulse: opened, an alert joined, all alerts resolved, a stage
    overran) and the operators' transitions with their notes; its last `limit`
    entries, oldest first. Needs the viewer or operator key.
    """
    async with influx_for(request) as influx:
        store = IncidentStore(influx)
        current = await store.current(incident_id)
        if current is None:
            raise _unknown(incident_id)
        audit = await store.audit(incident_id, limit=limit)
    return IncidentDetail(**state_of(current).model_dump(), audit=audit)


def _moving(request: Request) -> set[str]:
    """Return the ids of the incidents this api process is moving now (one set per app)."""
    moving: set[str] | None = getattr(request.app.state, "moving_incidents", None)
    if moving is None:
        moving = request.app.state.moving_incidents = set()
    return moving


async def _current(request: Request, live: LiveDep, incident_id: str) -> Incident | None:
    """Return the newest state known of an incident: memory (fed by MQTT) or InfluxDB."""
    async with influx_for(request) as influx:
        stored = await IncidentStore(influx).current(incident_id)
    return newer(live.incident(incident_id) if live is not None else None, stored)


@router.post("/{incident_id}/transitions", summary="Move an incident to another stage",
             dependencies=[OperatorKeyDep], responses=_MOVE_ERRORS)
async def transition_incident(*, request: Request, incident_id: IncidentIdPath,
                              body: TransitionRequest, settings: SettingsDep,
                              live: LiveDep) -> IncidentState:
    """Move an open incident to stage `to` and return its new state.

    Allowed: accepted → dispatched or closed; dispatched → handling, back to
    accepted (returned) or closed; handling → closed. Any other move, and any
    move of a closed incident, is a 409 with a sentence. Needs the operator key.
    The api publishes a signed command on MQTT and answers once the ingester has
    published the moved incident, or 504 after `URBANPULSE_API_ACK_TIMEOUT_S`.
    """
    require_alert_key(settings, "cannot sign transition commands and accepts none")
    check_text(body.by, body.note)
    moving = _moving(request)
    if incident_id in moving:
        raise HTTPException(status_code=409, detail=f"Incident {incident_id} is being moved "
                                                    "by another request right now.")
    moving.add(incident_id)
    try:
        current = await _current(request, live, incident_id)
        if current is None:
            raise _unknown(incident_id)
        if (why := refusal(incident_id, current.stage, body.to)) is not None:
            raise HTTPException(status_code=409, detail=why)
        moved = await move(settings, current, to=body.to, by=body.by, note=body.note)
        if (moved.stage, moved.by, moved.note or "") != (body.to, body.by, body.note):
            raise HTTPException(status_code=409, detail=(
                f"Incident {incident_id} was moved to {moved.stage} by {moved.by} at "
                f"{_iso(moved.ts)} first."))
        return state_of(moved)
    finally:
        moving.discard(incident_id)
