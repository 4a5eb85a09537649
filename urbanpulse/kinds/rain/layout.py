"""Where rain gauges stand: at any kind of site (roofs, parks, pump stations)."""

from urbanpulse.kinds.modelling import Placement, PlaceRequest


def place(request: PlaceRequest) -> Placement:
    """Place one gauge; its zone is the land use of its site."""
    return Placement(request.use, request.interval_s, 0, {"site_use": request.use})
