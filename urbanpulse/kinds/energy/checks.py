"""The energy alert checks: power against a learnt hourly baseline, and night baseload."""

from __future__ import annotations

from urbanpulse.kinds.alerting import Check, Context, Derived, Verdict
from urbanpulse.kinds.energy.rules import EnergyBaselineRule, NightBaseloadRule
from urbanpulse.messages import Reading
from urbanpulse.standards import local_hour


class EnergyAboveBaseline(Check):
    """Power above `factor` × the building's learnt mean for this local hour of the day."""

    def __init__(self, rule: EnergyBaselineRule) -> None:
        super().__init__(rule)
        self.factor = rule.factor
        self.alpha = rule.alpha
        self.min_samples = rule.min_samples
        self._hours: dict[str, dict[int, tuple[float, int]]] = {}  # sensor → hour → mean, n

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        power = reading.values.get("total_active_power")
        if power is None:
            return None
        slots = self._hours.get(reading.sensor)
        if slots is None:
            slots = self._hours[reading.sensor] = {}
        hour = local_hour(reading.ts)
        mean, samples = slots.get(hour, (power, 0))
        verdict: Verdict = None
        if samples >= self.min_samples and mean > 0:
            verdict = power > self.factor * mean, power, mean
        slots[hour] = (mean + self.alpha * (power - mean) if samples else power, samples + 1)
        return verdict

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        hour = local_hour(reading.ts)
        if value > self.factor * detail:
            return (f"{value} kW against a baseline of {detail:.1f} kW at {hour:02d}:00 "
                    f"(alert above {self.factor:g}×)")
        return (f"{value} kW back within {self.factor:g}× the baseline of {detail:.1f} kW at "
                f"{hour:02d}:00")


class NightBaseload(Check):
    """Night power (00:00–05:00 local) above `share` of the latest daytime peak."""

    def __init__(self, rule: NightBaseloadRule) -> None:
        super().__init__(rule)
        self.share = rule.share
        self._peaks: dict[str, tuple[int, float]] = {}  # sensor → (day, peak power)

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        power = reading.values.get("total_active_power")
        if power is None:
            return None
        sensor = reading.sensor
        hour = local_hour(reading.ts)
        if 8 <= hour < 20:
            day = reading.ts // 86_400_000
            peak_day, peak = self._peaks.get(sensor, (day, 0.0))
            self._peaks[sensor] = (day, max(power, peak) if peak_day == day else power)
            return (False, power, 0.0) if active else None
        if hour >= 5 or sensor not in self._peaks:
            return None
        peak = self._peaks[sensor][1]
        return power > self.share * peak, power, peak

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        if 8 <= local_hour(reading.ts) < 20:
            return f"daytime: the night baseload check ends at {value} kW"
        if not detail:
            return f"night load {value} kW"
        share = f"night load {value} kW is {value / detail:.0%} of the day's peak {detail} kW"
        return share if value > self.share * detail else f"{share}, back within {self.share:.0%}"


RULES = ((EnergyBaselineRule, EnergyAboveBaseline), (NightBaseloadRule, NightBaseload))
"""The kind's rule types, each with its check."""
