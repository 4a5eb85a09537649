"""Off-street parking lots: occupancy by land use, hour and weekday, plus a random walk.

Hourly profiles are fractions of peak demand from ULI *Shared Parking* (3rd ed.)
for office, retail and business-hotel lots; residential lots follow residents
(full at night, half empty on weekday office hours), not visitors. Office lots
in a Chinese CBD see about a fifth of their weekday demand at weekends, malls a
tenth more. Each lot has its own peak occupancy (0.80-0.98) and a slow AR(1)
deviation, and never empties below a floor of staff and overnight cars.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simulator.city import SensorSpec
from simulator.localtime import hourly, local_time
from simulator.models.registry import Bounds, FloatArray, IndexArray, ar1, attribute, register
from urbanpulse.catalog import PARKING

# Fraction of peak demand for the hour starting at index 0..23.
WEEKDAY = {
    "office": [0, 0, 0, 0, 0, 0, .03, .15, .50, .90, 1, 1,
               .85, .85, .95, .95, .85, .60, .25, .15, .05, .03, .01, 0],
    "retail": [0, 0, 0, 0, 0, 0, .01, .05, .15, .35, .60, .75,
               1, 1, .95, .85, .85, .85, .90, .90, .85, .60, .15, .05],
    "residential": [.97, .97, .97, .97, .97, .97, .95, .85, .70, .60, .55, .55,
                    .55, .55, .55, .55, .55, .60, .70, .80, .88, .93, .96, .96],
    "hotel": [1, 1, 1, 1, 1, .98, .95, .90, .80, .70, .60, .60,
              .55, .55, .60, .60, .65, .70, .75, .75, .80, .85, .95, 1],
}
WEEKEND = {
    "office": [0, 0, 0, 0, 0, 0, 0, .20, .60, .80, .90, 1,
               .90, .80, .60, .40, .20, .10, .05, 0, 0, 0, 0, 0],
    "retail": [0, 0, 0, 0, 0, 0, .01, .05, .30, .50, .70, .90,
               .95, 1, 1, .95, .90, .80, .75, .80, .80, .60, .30, .10],
    "residential": [.97, .97, .97, .97, .97, .97, .97, .95, .90, .85, .78, .78,
                    .78, .78, .78, .78, .78, .80, .85, .90, .93, .95, .97, .97],
    "hotel": WEEKDAY["hotel"],
}
WEEKEND_SCALE = {"office": 0.2, "retail": 1.1, "residential": 1.0, "hotel": 0.95}
FLOOR = 0.03
PEAK = (0.80, 0.98)
WALK_RHO, WALK_SIGMA = 0.97, 0.04
BOUNDS = Bounds(PARKING, {"total_spot_number": 0, "available_spot_number": 0, "occupancy": 3})


@register("parking")
class ParkingModel:
    """Parking lots reporting total and available spaces and their occupancy."""

    def __init__(self, specs: Sequence[SensorSpec], rng: np.random.Generator) -> None:
        uses = [str(attribute(spec, "land_use")) for spec in specs]
        unknown = sorted(set(uses) - set(WEEKDAY))
        if unknown:
            raise ValueError(f"Unknown parking land use {unknown[0]!r}; "
                             f"known are {', '.join(WEEKDAY)}.")
        self._rng = rng
        self._capacity = np.array([int(attribute(spec, "capacity")) for spec in specs],
                                  dtype=np.float64).clip(1, None)
        self._weekday = np.array([WEEKDAY[use] for use in uses], dtype=np.float64).reshape(-1, 24)
        self._weekend = np.array([np.multiply(WEEKEND[use], WEEKEND_SCALE[use]) for use in uses],
                                 dtype=np.float64).reshape(-1, 24)
        self._peak = rng.uniform(*PEAK, size=len(specs))
        self._walk = rng.normal(0.0, WALK_SIGMA, size=len(specs))

    def step(self, t: int, idx: IndexArray) -> dict[str, FloatArray]:
        """Return total and available spaces and occupancy of the lots `idx` at `t`."""
        now = local_time(t)
        profile = hourly((self._weekend if now.is_weekend else self._weekday)[idx], now.hour)
        demand = FLOOR + (self._peak[idx] - FLOOR) * np.minimum(profile, 1.0)
        occupancy = np.clip(demand + ar1(self._walk, idx, WALK_RHO, WALK_SIGMA, self._rng), 0, 1)
        capacity = self._capacity[idx]
        occupied = np.round(occupancy * capacity)
        return BOUNDS({
            "total_spot_number": capacity,
            "available_spot_number": capacity - occupied,
            "occupancy": occupied / capacity,
        })
