"""Where gas detectors stand: in wells and vaults along the gas mains."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest, pick

SPACE = {"valve-well": 0.4, "adjacent-well": 0.45, "vault": 0.15}
"""Share of detectors by space (A): valve wells of the gas network, wells of other
networks next to a main (where leaked gas collects), and utility vaults."""


def place(request: PlaceRequest) -> Placement:
    """Place one detector in a drawn kind of space."""
    space = pick(request.rng, SPACE)
    return Placement(space, request.interval_s, 0, {"space": space, "site_use": request.use})
