"""The air rule type: the HJ 633 AQI category (checked in `checks.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from urbanpulse.kinds.rule import BaseRule


class AqiRule(BaseRule):
    """Fires when the HJ 633 AQI category reaches `min_level` (1 excellent … 6 severe).

    It clears only when the category has dropped a whole step below the
    triggering one (`clear_level`, default `min_level` − 2), so a reading
    hovering on a category boundary does not flap.
    """

    type: Literal["aqi"]
    kind: Literal["air"] = "air"
    min_level: int = Field(ge=2, le=6)
    clear_level: int | None = Field(None, ge=1, le=5)

    @model_validator(mode="after")
    def _clear_below(self) -> AqiRule:
        if self.clear_level is not None and self.clear_level >= self.min_level:
            raise ValueError("'clear_level' must be below 'min_level'")
        return self
