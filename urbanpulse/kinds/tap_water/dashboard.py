"""The tap-water dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.panels import (
    CHART,
    KindDashboard,
    Overview,
    SystemPart,
    by_district,
    by_sensor,
    grafana_unit,
    table,
    thresholds,
    timeseries,
    top,
)
from urbanpulse.kinds.systems import WATER_SUPPLY
from urbanpulse.kinds.tap_water import SPEC
from urbanpulse.now import TOP_N

CHLORINE = grafana_unit(SPEC.metrics["chlorine_mgl"])
TURBIDITY = grafana_unit(SPEC.metrics["turbidity_ntu"])
MEASUREMENT = f'"{SPEC.name}"'


def dashboard() -> KindDashboard:
    """Return the tap-water dashboard."""
    return KindDashboard("Residual free chlorine and turbidity in the supply network "
                         "against GB 5749-2022.", [
        timeseries("Free chlorine by point", "The line is GB 5749's 0.05 mg/L.",
                   (0, 0, 12, 9), [by_sensor("chlorine_mgl", SPEC.name)], unit=CHLORINE,
                   minimum=0, steps=thresholds("transparent", (0.05, "red")),
                   threshold_style="line"),
        timeseries("Turbidity by point", "The line is GB 5749's 1 NTU.", (12, 0, 12, 9),
                   [by_sensor("turbidity_ntu", SPEC.name)], unit=TURBIDITY, minimum=0,
                   steps=thresholds("transparent", (1.0, "red")), threshold_style="line"),
        table("Lowest chlorine now", f"The {TOP_N} points with the lowest last free "
              "chlorine, with their turbidity.", (0, 9, 24, 8), [top(SPEC, {
                  "chlorine": "chlorine_mgl", "turbidity": "turbidity_ntu"}, lowest=True)]),
    ])


def overview() -> Overview:
    """Return the lowest free chlorine by district, for the city overview."""
    return Overview(charts=(timeseries(
        "Tap-water chlorine by district", "Lowest free chlorine of the district's points.",
        CHART, [by_district("chlorine_mgl", SPEC.name, "min")],
        unit=CHLORINE, minimum=0),))


def system() -> SystemPart:
    """Return chlorine and turbidity by district, for the water-supply dashboard."""
    return SystemPart(WATER_SUPPLY, (
        timeseries("Lowest free chlorine by district", "The line is GB 5749's 0.05 mg/L.",
                   (0, 0, 12, 8), [by_district("chlorine_mgl", SPEC.name, "min")], unit=CHLORINE,
                   minimum=0, steps=thresholds("red", (0.05, "transparent")),
                   threshold_style="line"),
        timeseries("Highest turbidity by district", "The line is GB 5749's 1 NTU.",
                   (12, 0, 12, 8), [by_district("turbidity_ntu", SPEC.name, "max")], unit=TURBIDITY,
                   minimum=0, steps=thresholds("transparent", (1.0, "red")),
                   threshold_style="line"),
    ))
