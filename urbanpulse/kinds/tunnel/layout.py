"""Where tunnel monitors stand: one per compartment section of a utility tunnel."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest, pick

COMPARTMENT = {"gas": 0.25, "power": 0.35, "water": 0.2, "combined": 0.2}
"""Share of monitored compartments by what they carry (A)."""


def place(request: PlaceRequest) -> Placement:
    """Place one monitor in a drawn compartment."""
    compartment = pick(request.rng, COMPARTMENT)
    return Placement(compartment, request.interval_s, 0,
                     {"compartment": compartment, "site_use": request.use})
