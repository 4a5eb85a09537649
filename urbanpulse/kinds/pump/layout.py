"""Where pump stations stand: one per drained catchment, with 3-8 main pumps."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest

PUMPS = (3, 8)
PUMP_M3S = (1.0, 4.0)


def place(request: PlaceRequest) -> Placement:
    """Place one station with its pumps, reporting every 5 minutes."""
    pumps = int(request.rng.integers(PUMPS[0], PUMPS[1] + 1))
    capacity = round(float(request.rng.uniform(*PUMP_M3S)), 1)
    return Placement("catchment", request.interval_s, 0, {
        "pumps": pumps, "pump_m3s": capacity, "site_use": request.use})
