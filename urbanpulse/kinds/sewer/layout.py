"""Where sewer meters stand: a pipe of a network, sized by what the site drains."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest, pick

NETWORK = {"storm": 0.55, "combined": 0.25, "foul": 0.20}
"""Shanghai's central city is mostly separate systems; old areas keep combined sewers (A)."""
DIAMETER_M = (0.6, 0.8, 1.0, 1.2, 1.5, 1.8, 2.0, 2.4)
LAG_MIN = (15, 60)


def place(request: PlaceRequest) -> Placement:
    """Place one meter in a pipe of a drawn network and diameter."""
    network = pick(request.rng, NETWORK)
    diameter = DIAMETER_M[int(request.rng.integers(0, len(DIAMETER_M)))]
    lag = int(request.rng.integers(LAG_MIN[0], LAG_MIN[1] + 1))
    return Placement(network, request.interval_s, 0, {
        "diameter_m": diameter, "network": network, "lag_min": lag, "site_use": request.use})
