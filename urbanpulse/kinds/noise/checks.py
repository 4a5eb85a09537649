"""The noise alert check: LAeq against the GB 3096 limit derived for the reading."""

from __future__ import annotations

from urbanpulse.kinds.alerting import Check, Context, Derived, Verdict
from urbanpulse.kinds.noise.rules import NoiseLimitRule
from urbanpulse.messages import Reading


class NoiseOverLimit(Check):
    """LAeq above the GB 3096 limit of the monitor's zone at the reading's local hour."""

    def __init__(self, rule: NoiseLimitRule) -> None:
        super().__init__(rule)
        self.margin_db = rule.margin_db

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        limit, laeq = derived.get("noise_limit_db"), reading.values.get("laeq")
        if not isinstance(limit, float) or laeq is None:
            return None
        return laeq > limit + self.margin_db, laeq, limit

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        verb = "over" if value > detail + self.margin_db else "back within"
        margin = f" (margin {self.margin_db:g} dB)" if self.margin_db else ""
        return f"LAeq {value} dB(A) {verb} the zone {context.zone} limit of {detail:g}{margin}"


RULES = ((NoiseLimitRule, NoiseOverLimit),)
"""The kind's rule types, each with its check."""
