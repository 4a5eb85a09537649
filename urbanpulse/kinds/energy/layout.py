"""Which buildings carry energy meters: a building type per land use, and its floor area."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest, pick, within

FLOOR_AREA_M2 = {"office": (20_000, 120_000), "mall": (30_000, 200_000),
                 "hotel": (15_000, 80_000), "hospital": (30_000, 150_000),
                 "government": (8_000, 40_000)}


def place(request: PlaceRequest) -> Placement:
    """Draw a building of the land use's `building_type` mix and its floor area."""
    building = pick(request.rng, request.mixes["building_type"])
    return Placement(building, request.interval_s, 0, {
        "building_type": building,
        "floor_area_m2": within(request.rng, FLOOR_AREA_M2[building], 500),
        "site_use": request.use})
