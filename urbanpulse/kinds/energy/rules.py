"""The energy rule types: power against a learnt baseline, and night baseload (`checks.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from urbanpulse.kinds.rule import BaseRule


class EnergyBaselineRule(BaseRule):
    """Fires when a building draws `factor` × its usual power for the local hour of the day.

    The baseline is learnt per building: an exponentially weighted mean for each
    of the 24 local hours of the day (weight `alpha`), used once that hour has
    `min_samples` readings.
    """

    type: Literal["energy_baseline"]
    kind: Literal["energy"] = "energy"
    factor: float = Field(1.3, gt=1)
    alpha: float = Field(0.2, gt=0, le=1)
    min_samples: int = Field(2, ge=1)


class NightBaseloadRule(BaseRule):
    """Fires when night power (local 00:00–05:00) stays above `share` of the day's peak."""

    type: Literal["night_baseload"]
    kind: Literal["energy"] = "energy"
    share: float = Field(0.5, gt=0, lt=1)
