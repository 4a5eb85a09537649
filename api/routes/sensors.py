"""`/v1/sensors`: sensor metadata, the newest reading, and readings over time.

Metadata and the newest reading come from the latest state in memory once it
is loaded (`LiveDep`), from InfluxDB before; readings over time from InfluxDB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException

from api.deps import LiveDep, SettingsDep, StoreDep
from api.live import LiveState
from api.models import (
    INFLUX_ERRORS,
    ErrorDetail,
    LatestReading,
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
from urbanpulse.kinds import get_kind

router = APIRouter(prefix="/sensors", tags=["sensors"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "No birth message of this sensor is stored"},
    **INFLUX_ERRORS,
}


async def _find(store: SensorStore, live: LiveState | None, sensor_id: str) -> Sensor:
    sensor = live.births.get(sensor_id) if live is not None else \
        await store.get_sensor(sensor_id)
    if sensor is None:
        where = "InfluxDB holds" if live is None else "neither InfluxDB nor the broker holds"
        raise HTTPException(status_code=404,
                            detail=f"Unknown sensor {sensor_id!r}: {where} no birth message "
                                   "for it.")
    return sensor


def _held_latest(live: LiveState, sensor: Sensor) -> LatestReading | None:
    """Return the newest reading of `sensor` held in memory, with the kind's metrics only."""
    row = live.newest(sensor.sensor)
    if row is None:
        return None
    metrics = get_kind(sensor.kind).metrics
    return LatestReading(ts=row["time"], seq=row["seq"], values={
        name: float(value) for name in metrics
        if isinstance(value := row.get(name), int | float)})


@router.get("", summary="List sensors", responses=INFLUX_ERRORS)
async def list_sensors(store: StoreDep, live: LiveDep, kind: KindQuery = None,
                       district: DistrictQuery = None, limit: LimitQuery = 100,
                       offset: OffsetQuery = 0) -> SensorPage:
    """List sensors by id, optionally of one kind and in one district, a page at a time."""
    if live is None:
        return await store.list_sensors(kind=kind, district=district, limit=limit,
                                        offset=offset)
    found = live.sensors(kind=kind, district=district)
    return SensorPage(items=found[offset:offset + limit], total=len(found), limit=limit,
                      offset=offset)


@router.get("/{sensor_id}", summary="One sensor and its newest reading", responses=_NOT_FOUND)
async def get_sensor(sensor_id: SensorPath, store: StoreDep, live: LiveDep) -> SensorDetail:
    """Return a sensor's metadata from its newest birth, and its newest reading (or null)."""
    sensor = await _find(store, live, sensor_id)
    latest = _held_latest(live, sensor) if live is not None else await store.latest(sensor)
    return SensorDetail(**sensor.model_dump(), latest=latest)


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
