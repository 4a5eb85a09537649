"""`/v1/sensors`: sensor metadata, the newest reading, and readings over time.

Metadata and the newest reading come from the latest state in memory once it
is loaded (`LiveDep`), as JSON encoded once per change (`api.answers`), from
InfluxDB before; readings over time from InfluxDB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from api.answers import json_answer
from api.deps import LiveDep, SettingsDep, StoreDep, influx_for
from api.live import LiveState
from api.models import (
    INFLUX_ERRORS,
    ErrorDetail,
    Readings,
    Sensor,
    SensorDetail,
    SensorPage,
)
from api.params import (
    DistrictQuery,
    EndQuery,
    EveryQuery,
    KindQuery,
    LimitQuery,
    OffsetQuery,
    SensorPath,
    StartQuery,
    duration_ms,
    invalid,
    resolve_range,
)
from api.store import SensorStore

router = APIRouter(prefix="/sensors", tags=["sensors"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "No birth message of this sensor is stored"},
    **INFLUX_ERRORS,
}


def _unknown(sensor_id: str, *, live: bool) -> HTTPException:
    where = "neither InfluxDB nor the broker holds" if live else "InfluxDB holds"
    return HTTPException(status_code=404,
                         detail=f"Unknown sensor {sensor_id!r}: {where} no birth message for it.")


async def _find(store: SensorStore, live: LiveState | None, sensor_id: str) -> Sensor:
    sensor = live.births.get(sensor_id) if live is not None else \
        await store.get_sensor(sensor_id)
    if sensor is None:
        raise _unknown(sensor_id, live=live is not None)
    return sensor


@router.get("", summary="List sensors", response_model=SensorPage, responses=INFLUX_ERRORS)
async def list_sensors(request: Request, live: LiveDep, kind: KindQuery = None,
                       district: DistrictQuery = None, limit: LimitQuery = 100,
                       offset: OffsetQuery = 0) -> Response:
    """List sensors by id, optionally of one kind and in one district, a page at a time."""
    if live is None:
        async with influx_for(request) as influx:
            page = await SensorStore(influx).list_sensors(kind=kind, district=district,
                                                          limit=limit, offset=offset)
        return json_answer(page.__pydantic_serializer__.to_json(page))
    found = live.sensors(kind=kind, district=district)
    return json_answer(live.answers.page(found[offset:offset + limit], total=len(found),
                                         limit=limit, offset=offset))


@router.get("/{sensor_id}", summary="One sensor and its newest reading",
            response_model=SensorDetail, responses=_NOT_FOUND)
async def get_sensor(sensor_id: SensorPath, request: Request, live: LiveDep) -> Response:
    """Return a sensor's metadata from its newest birth, and its newest reading (or null)."""
    if live is not None:
        held = live.births.get(sensor_id)
        if held is None:
            raise _unknown(sensor_id, live=True)
        return json_answer(live.answers.detail(held, live.newest(sensor_id)))
    async with influx_for(request) as influx:
        store = SensorStore(influx)
        sensor = await _find(store, None, sensor_id)
        detail = SensorDetail(**sensor.model_dump(), latest=await store.latest(sensor))
    return json_answer(detail.__pydantic_serializer__.to_json(detail))


@router.get("/{sensor_id}/readings", summary="A sensor's readings over time",
            responses=_NOT_FOUND)
async def get_readings(*, sensor_id: SensorPath, store: StoreDep, settings: SettingsDep,
                       live: LiveDep, start: StartQuery = None, end: EndQuery = None,
                       every: EveryQuery = None) -> Readings:
    """Return readings in [start, end): raw, or the mean of each `every` bucket.

    The range defaults to the last hour, may span at most `URBANPULSE_API_MAX_RANGE_S`
    seconds, and yields at most `URBANPULSE_API_MAX_POINTS` points (`truncated` says
    when there were more). A bucket may be at most as long as the widest range.
    """
    start_ms, end_ms = resolve_range(start, end, now=datetime.now(UTC),
                                     max_range_s=settings.api_max_range_s)
    # A longer bucket says nothing more, and InfluxDB refuses the longest with a 400.
    if every is not None and duration_ms(every) > settings.api_max_range_s * 1000:
        raise invalid("every", f"every ({every}) must be at most the widest range, "
                               f"{settings.api_max_range_s} s", every)
    sensor = await _find(store, live, sensor_id)
    return await store.readings(sensor, start_ms=start_ms, end_ms=end_ms, every=every,
                                max_points=settings.api_max_points)
