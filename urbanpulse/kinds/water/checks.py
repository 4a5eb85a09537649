"""The water alert checks: the derived GB 3838 class against the station's `class_target`,
and a station's water temperature against the other stations'."""

from __future__ import annotations

from statistics import median

from urbanpulse.kinds.alerting import Check, Context, Derived, Verdict
from urbanpulse.kinds.water.rules import TemperatureNeighboursRule, WaterClassRule
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


class TemperatureNeighbours(Check):
    """Water temperature `off_c` or more from the median of the city's other stations."""

    def __init__(self, rule: TemperatureNeighboursRule) -> None:
        super().__init__(rule)
        self.off = rule.off_c
        self.need = rule.min_stations
        self.within_ms = int(rule.within * 1000)
        self._latest: dict[str, tuple[int, float]] = {}
        """Station → the time and temperature of its latest reading."""

    def check(self, reading: Reading, active: bool, context: Context,
              derived: Derived) -> Verdict:
        temperature = reading.values.get("temperature")
        if temperature is None:
            return None
        self._latest[reading.sensor] = (reading.ts, temperature)
        others = [value for sensor, (ts, value) in self._latest.items()
                  if sensor != reading.sensor and abs(reading.ts - ts) <= self.within_ms]
        if len(others) < self.need:
            return None
        usual = median(others)
        return abs(temperature - usual) > self.off, temperature, usual

    def describe(self, reading: Reading, value: float, detail: float, context: Context,
                 derived: Derived) -> str:
        verb = "more than" if abs(value - detail) > self.off else "back within"
        return (f"water temperature {value} °C is {value - detail:+.1f} °C from the other "
                f"stations' median {detail:.1f} °C ({verb} {self.off:g} °C)")


RULES = ((WaterClassRule, WaterClassWorse), (TemperatureNeighboursRule, TemperatureNeighbours))
"""The kind's rule types, each with its check."""
