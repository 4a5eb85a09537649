"""Parking spaces from lot counts and bay states, guidance status, and distances.

Two devices report to the `parking` kind: off-street lots (`device: lot`),
which count their spaces (`total_spot_number`, `available_spot_number`), and
on-street bay sensors (`device: bay`), one space each, which report `occupied`
when a car arrives or leaves and a heartbeat daily. A district's spaces are
the lots' spaces plus one per bay. Guidance lists lots only: a bay is one
kerbside space, not a destination a sign would send drivers to.

Status follows the colours of parking guidance signs (domain facts §3.3):
green when more than 20 % of a lot's spaces are free, yellow from 5 % to 20 %,
red below 5 % or full.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from api.current import Current
from api.models import Sensor
from api.rounding import derived
from api.view_models import Lot, LotCounts, LotStatus, ParkingSummary

PARKING_FIELDS = ("total_spot_number", "available_spot_number", "occupied")
GREEN_ABOVE = 0.20
RED_BELOW = 0.05
EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), for great-circle distances."""


def lot_status(free: int, total: int) -> LotStatus:
    """Return the guidance colour of a lot with `free` of `total` spaces free."""
    share = free / total if total > 0 else 0.0
    if free <= 0 or share < RED_BELOW:
        return "red"
    return "green" if share > GREEN_ABOVE else "yellow"


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle (haversine) distance between two points, in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def is_bay(sensor: Sensor) -> bool:
    """Return whether a parking sensor's birth declares an on-street bay sensor."""
    return sensor.attributes.get("device") == "bay"


def is_lot(current: Current) -> bool:
    """Return whether the reading is a lot count (a bay reports `occupied` instead)."""
    return current.number("total_spot_number") is not None and \
        current.number("available_spot_number") is not None


def to_lot(current: Current, near: tuple[float, float] | None) -> Lot:
    """Return the guidance entry of a lot's current count."""
    sensor = current.sensor
    total = int(current.number("total_spot_number") or 0)
    free = min(max(int(current.number("available_spot_number") or 0), 0), total)
    return Lot(sensor=sensor.sensor, district=sensor.district, site=sensor.site,
               lat=sensor.lat, lon=sensor.lon, total_spaces=total, free_spaces=free,
               occupancy=derived(1 - free / total) if total else 1.0,
               status=lot_status(free, total), ts=current.ts,
               distance_m=None if near is None else
               derived(distance_m(near[0], near[1], sensor.lat, sensor.lon)))


def summarise(readings: Sequence[Current]) -> ParkingSummary:
    """Return a district's spaces, free spaces and lots by status from current readings."""
    lots = [to_lot(current, None) for current in readings if is_lot(current)]
    bay_states = [current.number("occupied") for current in readings if not is_lot(current)]
    bays = [state for state in bay_states if state is not None]
    total = sum(lot.total_spaces for lot in lots) + len(bays)
    free = sum(lot.free_spaces for lot in lots) + sum(1 for state in bays if state < 0.5)
    counts = {status: sum(1 for lot in lots if lot.status == status)
              for status in ("green", "yellow", "red")}
    return ParkingSummary(lots=len(lots), bays=len(bays), total_spaces=total,
                          free_spaces=free,
                          occupancy=None if total == 0 else derived(1 - free / total),
                          lots_by_status=LotCounts(**counts))
