"""`/v1/sensors`: sensor metadata, the newest reading, and readings over time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException

from api.deps import SettingsDep, StoreDep
from api.models import INFLUX_ERRORS, ErrorDetail, Readings, Sensor, SensorDetail, SensorPage
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


async def _find(store: SensorStore, sensor_id: str) -> Sensor:
    sensor = await store.get_sensor(sensor_id)
    if sensor is None:
        raise HTTPException(
            status_code=404,
            detail=f"Unknown sensor {sensor_id!r}: InfluxDB holds no birth message for it.",
        )
    return sensor


@router.get("", summary="List sensors", responses=INFLUX_ERRORS)
async def list_sensors(store: StoreDep, kind: KindQuery = None, district: DistrictQuery = None,
                       limit: LimitQuery = 100, offset: OffsetQuery = 0) -> SensorPage:
    """List sensors by id, optionally of one kind and in one district, a page at a time."""
    return await store.list_sensors(kind=kind, district=district, limit=limit, offset=offset)


@router.get("/{sensor_id}", summary="One sensor and its newest reading", responses=_NOT_FOUND)
async def get_sensor(sensor_id: SensorPath, store: StoreDep) -> SensorDetail:
    """Return a sensor's metadata from its newest birth, and its newest reading (or null)."""
    sensor = await _find(store, sensor_id)
    latest = await store.latest(sensor)
    return SensorDetail(**sensor.model_dump(), latest=latest)


@router.get("/{sensor_id}/readings", summary="A sensor's readings over time",
            responses=_NOT_FOUND)
async def get_readings(*, sensor_id: SensorPath, store: StoreDep, settings: SettingsDep,
                       start: StartQuery = None, end: EndQuery = None,
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
    sensor = await _find(store, sensor_id)
    return await store.readings(sensor, start_ms=start_ms, end_ms=end_ms, every=every,
                                max_points=settings.api_max_points)
