"""Where tap-water analysers stand: at network points, reporting every 5 minutes."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest


def place(request: PlaceRequest) -> Placement:
    """Place one analyser; its zone is the land use of its site."""
    return Placement(request.use, request.interval_s, 0, {"site_use": request.use})
