"""Where pressure points stand: mostly at network ends, some on trunk mains, every minute."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest, pick

POSITION_SHARE = {"network-end": 0.7, "trunk": 0.3}
INTERVAL_S = {"demo": 60, "real": 300}
"""Loggers sample every minute in the demo; 5 min is a common field setting (1-15 min)."""


def place(request: PlaceRequest) -> Placement:
    """Draw the point's position in the network; its zone is that position."""
    position = pick(request.rng, POSITION_SHARE)
    return Placement(position, INTERVAL_S[request.cadence], 0,
                     {"position": position, "site_use": request.use})
