"""The air alert check: the HJ 633 category of the AQI derived for the reading."""

from __future__ import annotations

from urbanpulse.kinds.air.rules import AqiRule
from urbanpulse.kinds.alerting import Check, Context, Derived, Verdict
from urbanpulse.messages import Reading


class AqiLevel(Check):
    """HJ 633 category at or above `min_level`; clears at or below `clear_level`."""

    def __init__(self, rule: AqiRule) -> None:
        super().__init__(rule)
        self.min_level = rule.min_level
        self.clear_level = (rule.clear_level if rule.clear_level is not None
                            else max(1, rule.min_level - 2))

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        level, index = derived.get("aqi_level"), derived.get("aqi")
        if not isinstance(level, int) or not isinstance(index, int):
            return None
        verdict = level > self.clear_level if active else level >= self.min_level
        return verdict, float(index), 0.0

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        level = derived.get("aqi_level")
        back = (f" back at or below level {self.clear_level}"
                if isinstance(level, int) and level <= self.clear_level < self.min_level else "")
        return (f"AQI {int(value)} (level {level}){back}, primary pollutant "
                f"{derived.get('primary_pollutant') or 'none'}")


RULES = ((AqiRule, AqiLevel),)
"""The kind's rule types, each with its check."""
