"""Where air stations stand: urban, roadside or suburban siting, reference or low-cost grade."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest, pick

GRADE = {"reference": 0.25, "low-cost": 0.75}


def place(request: PlaceRequest) -> Placement:
    """Draw a siting from the land use's `air_siting` mix and the station's grade."""
    siting = pick(request.rng, request.mixes["air_siting"])
    return Placement(siting, request.interval_s, 0, {
        "siting": siting, "grade": pick(request.rng, GRADE), "site_use": request.use})
