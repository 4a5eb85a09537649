"""The water alert check: the derived GB 3838 class against the station's `class_target`."""

from __future__ import annotations

from urbanpulse.kinds.alerting import Check, Context, Derived, Verdict
from urbanpulse.kinds.water.rules import WaterClassRule
from urbanpulse.messages import Reading


class WaterClassWorse(Check):
    """GB 3838 class `by` or more classes worse than the station's `class_target`."""

    def __init__(self, rule: WaterClassRule) -> None:
        super().__init__(rule)
        self.by = rule.by

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        found, target = derived.get("water_class"), context.attributes.get("class_target")
        if not isinstance(found, int) or not isinstance(target, int):
            return None
        return found - target >= self.by, float(found), float(target)

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        found = int(value)
        verb = "back within" if found - int(detail) < self.by else "against"
        return (f"{'worse than V' if found == 6 else f'class {found}'} {verb} target class "
                f"{int(detail)}")


RULES = ((WaterClassRule, WaterClassWorse),)
"""The kind's rule types, each with its check."""
