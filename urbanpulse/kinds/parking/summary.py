"""Parking in the district summary, and the guidance view: spaces of lots and bays.

Two devices report to this kind: off-street lots (`device: lot`), which count
their spaces (`total_spot_number`, `available_spot_number`), and on-street bay
sensors (`device: bay`), one space each, which report `occupied` when a car
arrives or leaves and a heartbeat daily. A district's spaces are the lots'
spaces plus one per bay. Guidance lists lots only: a bay is one kerbside space,
not a destination a sign would send drivers to.

Status follows the colours of parking guidance signs (domain facts §3.3):
green when more than 20 % of a lot's spaces are free, yellow from 5 % to 20 %,
red below 5 % or full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.parking import SPEC
from urbanpulse.kinds.summaries import (
    Birth,
    Current,
    Section,
    SummaryRequest,
    View,
    current_readings,
    derived,
)

LotStatus = Literal["green", "yellow", "red"]
FIELDS = ("total_spot_number", "available_spot_number", "occupied")
GREEN_ABOVE = 0.20
RED_BELOW = 0.05


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class LotCounts(_Model):
    """Off-street lots by guidance status."""

    green: int = Field(description="Lots with more than 20 % of their spaces free")
    yellow: int = Field(description="Lots with 5 % to 20 % free")
    red: int = Field(description="Lots with less than 5 % free, or full")


class ParkingSummary(_Model):
    """Spaces in use and free: off-street lots plus on-street bays (one space each)."""

    lots: int = Field(description="Lots with a current reading")
    bays: int = Field(description="On-street bay sensors with a current state")
    total_spaces: int = Field(description="Spaces of those lots and bays")
    free_spaces: int = Field(description="Free spaces among them")
    occupancy: float | None = Field(
        description="Share of spaces in use, 0..1, to 4 places; null: none")
    lots_by_status: LotCounts


class Lot(_Model):
    """An off-street lot's free spaces and guidance status."""

    sensor: str = Field(examples=[f"{SPEC.name}-pudong-0003"])
    district: str
    site: str
    lat: float
    lon: float
    total_spaces: int
    free_spaces: int
    occupancy: float = Field(description="Share of spaces in use, 0..1, to 4 places")
    status: LotStatus
    ts: int = Field(description="Time of the lot's newest count, epoch ms")
    distance_m: float | None = Field(
        description="Great-circle distance from `near`, metres to 4 places; null without `near`")


def lot_status(free: int, total: int) -> LotStatus:
    """Return the guidance colour of a lot with `free` of `total` spaces free."""
    share = free / total if total > 0 else 0.0
    if free <= 0 or share < RED_BELOW:
        return "red"
    return "green" if share > GREEN_ABOVE else "yellow"


def is_bay(sensor: Birth) -> bool:
    """Return whether a parking sensor's birth declares an on-street bay sensor."""
    return sensor.attributes.get("device") == "bay"


def is_lot(current: Current) -> bool:
    """Return whether the reading is a lot count (a bay reports `occupied` instead)."""
    return current.number("total_spot_number") is not None and \
        current.number("available_spot_number") is not None


def to_lot(current: Current, distance_m: float | None) -> Lot | None:
    """Return the guidance entry of a lot's current count (None: not a count)."""
    if not is_lot(current):
        return None
    sensor = current.sensor
    total = int(current.number("total_spot_number") or 0)
    free = min(max(int(current.number("available_spot_number") or 0), 0), total)
    return Lot(sensor=sensor.sensor, district=sensor.district, site=sensor.site,
               lat=sensor.lat, lon=sensor.lon, total_spaces=total, free_spaces=free,
               occupancy=derived(1 - free / total) if total else 1.0,
               status=lot_status(free, total), ts=current.ts, distance_m=distance_m)


def summarise(readings: Sequence[Current]) -> ParkingSummary:
    """Return a district's spaces, free spaces and lots by status from current readings."""
    lots = [lot for current in readings if (lot := to_lot(current, None)) is not None]
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


async def build(request: SummaryRequest) -> ParkingSummary:
    """Return the parking section from the current readings of the district's lots and bays."""
    # Lots and bays apart: a bay's day-long heartbeat would stretch the lots' query window.
    lots, bays = await asyncio.gather(*(
        current_readings(request.queries, request.kind,
                         [sensor for sensor in request.births if is_bay(sensor) == bay],
                         FIELDS, at_ms=request.at_ms)
        for bay in (False, True)))
    return summarise([*lots, *bays])


SECTION = Section(ParkingSummary, build)
VIEWS = {
    "guidance": View(
        item=Lot, summary="Parking guidance: lots and their free spaces",
        description=(
            "List off-street lots with their free spaces and a green/yellow/red status.\n\n"
            "Give `district`, `near` (lat,lon) or both. With `near`, lots within "
            "`radius_m` come nearest first, each with its distance; with `district` only, "
            "lots with the most free spaces come first. Green means more than 20 % of the "
            "spaces are free, yellow 5 % to 20 %, red less than 5 % or full. Lots without "
            "a current count (none in three reporting intervals) or born after `at` are "
            "left out. A `district` where no sensor was ever born is a 404, as for the "
            "summary. `total` counts every matching lot; there is no offset."),
        fields=FIELDS, lists=lambda sensor: not is_bay(sensor), to_item=to_lot,
        ranking=lambda lot: (-lot.free_spaces, lot.sensor), keeps=is_lot),
}
"""The views of this kind, served at `/v1/parking/{name}`."""
