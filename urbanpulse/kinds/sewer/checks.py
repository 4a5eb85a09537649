"""The sewer alert check: a storm pipe's fill between its dry trickle and rain, sustained."""

from __future__ import annotations

from urbanpulse.kinds.alerting import Check, Context, Derived, Verdict
from urbanpulse.kinds.sewer.rules import DryWeatherFlowRule
from urbanpulse.messages import Reading


class DryWeatherFlow(Check):
    """Flow in a pipe of the rule's network above its dry level, below what rain gives."""

    def __init__(self, rule: DryWeatherFlowRule) -> None:
        super().__init__(rule)
        self.network = rule.network
        self.fill_above = rule.fill_above
        self.clear = rule.fill_above if rule.clear is None else rule.clear
        self.wet_fill = rule.wet_fill

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        if context.attributes.get("network") != self.network:
            return None
        fill = reading.values.get("fill_ratio")
        if fill is None:
            return None
        low = self.clear if active else self.fill_above
        return low < fill < self.wet_fill, fill, low

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        # `detail` is the level the fill was judged against: the alert level, or the clear level.
        pipe = f"fill {value:.3f} of the diameter in a {self.network} pipe"
        if value >= self.wet_fill:
            return f"{pipe}: it carries rain (at or above {self.wet_fill})"
        if value > detail:
            return (f"{pipe}, above {detail} without rain (below {self.wet_fill}): "
                    "flow in dry weather")
        return f"{pipe}, back at or below {detail}: dry again"


RULES = ((DryWeatherFlowRule, DryWeatherFlow),)
"""The kind's rule types, each with its check."""
