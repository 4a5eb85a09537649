"""The street-light alert check: the lamp's state against the hour (`lamp_fault`, derived)."""

from __future__ import annotations

from urbanpulse.kinds.alerting import Check, Context, Derived, Verdict
from urbanpulse.kinds.streetlight.rules import LampFaultRule
from urbanpulse.messages import Reading

_WHAT = {1: "out at night", 2: "on by day"}


class LampFault(Check):
    """The lamp out at night (fault 1) or burning by day (fault 2)."""

    def __init__(self, rule: LampFaultRule) -> None:
        super().__init__(rule)
        self.fault = int(rule.fault)

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        fault = derived.get("lamp_fault")
        if not isinstance(fault, int) or isinstance(fault, bool):
            return None
        return fault == self.fault, float(fault), float(self.fault)

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        what = _WHAT.get(int(detail), "faulty")
        if int(value) == int(detail):
            return f"lamp {what} (lamp_on {reading.values.get('lamp_on')})"
        return f"lamp no longer {what} (lamp_fault {int(value)})"


RULES = ((LampFaultRule, LampFault),)
"""The kind's rule types, each with its check."""
