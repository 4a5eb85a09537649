"""Where street-light controllers stand: one per pole, lighting a road of some class."""

from __future__ import annotations

from urbanpulse.kinds.modelling import Placement, PlaceRequest, pick, within

ROAD_CLASS = {
    "cbd": {"arterial": 0.5, "secondary": 0.35, "branch": 0.15},
    "commercial": {"arterial": 0.4, "secondary": 0.4, "branch": 0.2},
    "residential": {"arterial": 0.2, "secondary": 0.3, "branch": 0.5},
    "industrial": {"arterial": 0.4, "secondary": 0.4, "branch": 0.2},
    "port": {"arterial": 0.6, "secondary": 0.3, "branch": 0.1},
}
"""Road classes of the poles by land use (a land use not listed gets the residential mix)."""
RATED_W = {"arterial": (180, 250), "secondary": (100, 150), "branch": (50, 90)}
"""Rated LED lamp power by road class, W (CJJ 45 lighting levels, common LED fittings)."""


def place(request: PlaceRequest) -> Placement:
    """Draw the pole's road class by land use and its lamp's rated power."""
    road = pick(request.rng, ROAD_CLASS.get(request.use, ROAD_CLASS["residential"]))
    rated = within(request.rng, RATED_W[road], 10)
    return Placement(road, request.interval_s, 0, {
        "road_class": road, "rated_w": rated, "site_use": request.use})
