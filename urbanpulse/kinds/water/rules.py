"""The water rule type: the GB 3838 class against the station's target (checked in `checks.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from urbanpulse.kinds.rule import BaseRule


class WaterClassRule(BaseRule):
    """Fires when a station's GB 3838 class is `by` classes or more worse than its target."""

    type: Literal["water_class"]
    kind: Literal["water"] = "water"
    by: int = Field(1, ge=1, le=5)
