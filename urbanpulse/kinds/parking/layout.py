"""Where parking sensors stand: lots sized by what they serve, or on-street bay sensors."""

from __future__ import annotations

from collections.abc import Mapping

from urbanpulse.kinds.modelling import Option, Placement, PlaceRequest, pick, within

CAPACITY = {"office": (150, 800), "retail": (200, 1500), "residential": (100, 600),
            "hotel": (80, 400)}
"""Spaces of a lot by what it serves."""
BAY_HEARTBEAT_S = 86_400
"""Bay sensors send a heartbeat every 24 h (Nwave default) and report changes between."""
BAY_POLL_S = 30
"""Bay occupancy is sampled every 30 s: shorter flips are debounced away."""
OPTIONS: Mapping[str, Option] = {
    "bay_share": Option(0.5, 0.0, 1.0, "share of parking sensors that are on-street bays"),
}


def place(request: PlaceRequest) -> Placement:
    """Draw a lot or a bay serving one of the land use's `parking_use` mix."""
    use = pick(request.rng, request.mixes["parking_use"])
    if request.roll < request.options["bay_share"]:
        return Placement(use, BAY_HEARTBEAT_S, BAY_POLL_S, {
            "device": "bay", "land_use": use, "site_use": request.use})
    return Placement(use, request.interval_s, 0, {
        "device": "lot", "capacity": within(request.rng, CAPACITY[use], 10),
        "land_use": use, "site_use": request.use})
