"""Where manhole-cover sensors stand: on wells of every network, reporting on change."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest, pick, within

HEARTBEAT_S = 86_400
"""A cover sensor sends a heartbeat every 24 h and reports changes between (like bays)."""
POLL_S = 60
"""The cover is sampled every minute: a change is reported at the next sample."""
NETWORK = {"sewer": 0.35, "storm": 0.3, "water": 0.15, "power": 0.1, "telecom": 0.1}
"""Share of instrumented wells by network (drainage wells are most of them: A)."""
DEPTH_CM = (150, 300)


def place(request: PlaceRequest) -> Placement:
    """Place one cover sensor on a well of a drawn network and depth."""
    network = pick(request.rng, NETWORK)
    return Placement(network, HEARTBEAT_S, POLL_S, {
        "network": network, "depth_cm": within(request.rng, DEPTH_CM, 10),
        "site_use": request.use})
