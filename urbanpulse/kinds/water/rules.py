"""The water rule types: the GB 3838 class against the station's target, and a station's
temperature against the others' (checked in `checks.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from urbanpulse.kinds.rule import BaseRule, Duration


class WaterClassRule(BaseRule):
    """Fires when a station's GB 3838 class is `by` classes or more worse than its target."""

    type: Literal["water_class"]
    kind: Literal["water"] = "water"
    by: int = Field(1, ge=1, le=5)


class TemperatureNeighboursRule(BaseRule):
    """Fires when a station's water temperature is `off_c` from the other stations' median.

    The others are the water stations of the city that reported within `within`
    of the reading, at least `min_stations` of them (QARTOD's neighbour test).
    The plain rivers of one city share one climate, so their temperatures lie
    within a degree or two of each other; a station off by more reads its
    temperature wrong, and its DO, pH, conductivity and NH3-N, which its
    analysers compensate for temperature, with it. With `qc`, its readings fail
    quality control while it fires.
    """

    type: Literal["temperature_neighbours"]
    kind: Literal["water"] = "water"
    off_c: float = Field(gt=0)
    min_stations: int = Field(3, ge=1)
    within: Duration = 3600.0
    qc: bool = False
