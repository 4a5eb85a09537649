"""Where DMA inflow meters stand: one per area, sized 30-150 m³/h mean inflow."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest, within

MEAN_FLOW_M3H = (30, 150)
"""A DMA of 1,000-5,000 properties draws about 700-3,600 m³ a day (assumption)."""
INTERVAL_S = {"demo": 300, "real": 900}


def place(request: PlaceRequest) -> Placement:
    """Draw the area's mean inflow; its zone is the land use of its site."""
    return Placement(request.use, INTERVAL_S[request.cadence], 0, {
        "mean_flow_m3h": within(request.rng, MEAN_FLOW_M3H, 5), "site_use": request.use})
