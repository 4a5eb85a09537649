"""Where air stations stand: urban, roadside or suburban siting, reference or low-cost grade."""

from __future__ import annotations

from collections.abc import Mapping

from urbanpulse.kinds.modelling import POLE_SHARE, Option, Placement, PlaceRequest, carried_by, pick

GRADE = {"reference": 0.25, "low-cost": 0.75}
OPTIONS: Mapping[str, Option] = {"pole_share": POLE_SHARE}


def place(request: PlaceRequest) -> Placement:
    """Draw a siting from the land use's `air_siting` mix and the station's grade."""
    siting = pick(request.rng, request.mixes["air_siting"])
    return Placement(siting, request.interval_s, 0, {
        "siting": siting, "grade": pick(request.rng, GRADE), "site_use": request.use,
        **carried_by(request, "streetlight")})
