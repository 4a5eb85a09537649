"""`/v1/parking/guidance`: lots with free spaces and a guidance colour, nearest first."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.current import current_readings
from api.deps import InfluxDep, StoreDep
from api.models import INFLUX_ERRORS
from api.params import (
    AtQuery,
    DistrictQuery,
    GuidanceLimitQuery,
    NearQuery,
    RadiusQuery,
    invalid,
    parse_near,
    to_ms,
)
from api.parking_state import PARKING_FIELDS, is_bay, is_lot, to_lot
from api.routes.districts import UNKNOWN_DISTRICT, unknown_district
from api.view_models import Guidance

router = APIRouter(prefix="/parking", tags=["parking"])


@router.get("/guidance", summary="Parking guidance: lots and their free spaces",
            responses={**UNKNOWN_DISTRICT, **INFLUX_ERRORS})
async def guidance(*, store: StoreDep, influx: InfluxDep, district: DistrictQuery = None,
                   near: NearQuery = None, radius_m: RadiusQuery = 5000,
                   limit: GuidanceLimitQuery = 20, at: AtQuery = None) -> Guidance:
    """List off-street lots with their free spaces and a green/yellow/red status.

    Give `district`, `near` (lat,lon) or both. With `near`, lots within
    `radius_m` come nearest first, each with its distance; with `district`
    only, lots with the most free spaces come first. Green means more than 20 %
    of the spaces are free, yellow 5 % to 20 %, red less than 5 % or full.
    Lots without a current count (none in three reporting intervals) or born
    after `at` are left out. A `district` where no sensor was ever born is a 404,
    as for the summary. `total` counts every matching lot; there is no offset.
    """
    if district is None and near is None:
        raise invalid("district", "give a district, a place near=lat,lon, or both", None)
    at_ms = to_ms(at or datetime.now(UTC))
    births = [sensor for sensor in await store.births(kind="parking", district=district,
                                                      until_ms=at_ms)
              if not is_bay(sensor)]
    if not births and district is not None and not await store.has_district(district):
        raise unknown_district(district)
    point = None if near is None else parse_near(near)
    readings = await current_readings(influx, "parking", births, PARKING_FIELDS, at_ms=at_ms)
    lots = [to_lot(current, point) for current in readings if is_lot(current)]
    if point is None:
        lots.sort(key=lambda lot: (-lot.free_spaces, lot.sensor))
    else:
        lots = [lot for lot in lots if lot.distance_m is not None and lot.distance_m <= radius_m]
        lots.sort(key=lambda lot: (lot.distance_m or 0.0, lot.sensor))
    return Guidance(items=lots[:limit], total=len(lots), at=at_ms)
