"""Where noise monitors stand: a GB 3096 acoustic zone per land use."""

from __future__ import annotations

from collections.abc import Mapping

from urbanpulse.kinds.modelling import POLE_SHARE, Option, Placement, PlaceRequest, carried_by, pick

OPTIONS: Mapping[str, Option] = {"pole_share": POLE_SHARE}


def place(request: PlaceRequest) -> Placement:
    """Draw the monitor's acoustic zone from the land use's `noise_zone` mix."""
    zone = pick(request.rng, request.mixes["noise_zone"])
    return Placement(zone, request.interval_s, 0, {"noise_zone": zone, "site_use": request.use,
                                                   **carried_by(request, "streetlight")})
