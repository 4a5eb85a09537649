"""Where ponding gauges stand: underpasses and low-lying roads, each with its drainage."""

from __future__ import annotations

from collections.abc import Mapping

from urbanpulse.kinds.modelling import Option, Placement, PlaceRequest, within

CAPACITY_MM_H = {"underpass": (20, 36), "low-road": (24, 40)}
"""Rain intensity the site drains without ponding: about the 36 mm/h of Shanghai's central
city (2012) at best, less at underpasses whose pumps and gratings lag (A)."""
OPTIONS: Mapping[str, Option] = {
    "underpass_share": Option(0.5, 0.0, 1.0, "share of ponding gauges at underpasses"),
}


def place(request: PlaceRequest) -> Placement:
    """Place one gauge at an underpass or a low road, reporting every minute."""
    site = "underpass" if request.roll < request.options["underpass_share"] else "low-road"
    return Placement(site, request.interval_s, 0, {
        "site_type": site, "capacity_mm_h": within(request.rng, CAPACITY_MM_H[site], 2),
        "site_use": request.use})
