"""Where water stations stand: national automatic stations and micro stations on rivers."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest, pick

STATION_SHARE = {"national": 0.3, "micro": 0.7}
INTERVAL_S = {"demo": {"national": 600, "micro": 600},
              "real": {"national": 4 * 3600, "micro": 2 * 3600}}
"""Reporting interval by cadence and station: every 4 h (national) or 2 h (micro) in the field."""


def place(request: PlaceRequest) -> Placement:
    """Draw a station and the GB 3838 class its section must meet (`water_class` mix)."""
    station = pick(request.rng, STATION_SHARE)
    return Placement("river", INTERVAL_S[request.cadence][station], 0, {
        "class_target": int(pick(request.rng, request.mixes["water_class"])),
        "station": station, "site_use": request.use})
