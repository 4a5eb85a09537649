"""The one rounding of the floats the api derives: four decimal places.

Means, sums, shares, distances and percentages that the api computes, or asks
InfluxDB to compute, are rounded by `derived`, so a client reads 48.15 and not
48.150000000000006, whichever view it comes from. Values as stored (readings,
hourly minima and maxima, coordinates) are passed on unchanged.
"""

from __future__ import annotations

DECIMALS = 4


def derived(value: float) -> float:
    """Return a value the api derived, rounded to `DECIMALS` places."""
    return round(value, DECIMALS)
