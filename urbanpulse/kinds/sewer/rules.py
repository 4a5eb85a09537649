"""The sewer rule type: flow in a storm pipe in dry weather, a foul connection (`checks.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from urbanpulse.kinds.rule import BaseRule, Name


class DryWeatherFlowRule(BaseRule):
    """Fires when a pipe of `network` runs between `fill_above` and `wet_fill` for `for`.

    In dry weather a storm pipe carries only a trickle of infiltration: its
    level sits near the invert. Rain fills it far higher, and its runoff
    recedes within a few hours of the rain (the catchment's lag). So a fill
    held above `fill_above` for longer than that, never reaching `wet_fill`,
    is sewage the pipe should not carry: a foul connection (雨污混接). A fill
    at or above `wet_fill` is rain, and ends the condition.
    """

    type: Literal["dry_weather_flow"]
    kind: Literal["sewer"] = "sewer"
    network: Name = "storm"
    """The pipes it watches, by the `network` of their birth."""
    fill_above: float = Field(gt=0)
    clear: float | None = Field(None, gt=0)
    """The fill the flow must fall back to (default `fill_above`)."""
    wet_fill: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> DryWeatherFlowRule:
        if not self.fill_above < self.wet_fill:
            raise ValueError("'fill_above' must be below 'wet_fill'")
        if self.clear is not None and self.clear > self.fill_above:
            raise ValueError("'clear' must not be above 'fill_above'")
        return self
