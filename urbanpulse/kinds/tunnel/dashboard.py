"""The utility-tunnel dashboard and its panel on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.panels import (
    CHART,
    Grid,
    Json,
    KindDashboard,
    Overview,
    SystemPart,
    by_district,
    grafana_unit,
    table,
    thresholds,
    timeseries,
    top,
)
from urbanpulse.kinds.systems import UNDERGROUND
from urbanpulse.kinds.tunnel import SPEC
from urbanpulse.now import TOP_N


def _by_district(field: str, function: str, title: str, description: str, grid: Grid,
                 steps: Json) -> Json:
    return timeseries(title, description, grid, [by_district(field, SPEC.name, function)],
                      unit=grafana_unit(SPEC.metrics[field]), steps=steps,
        threshold_style="line")


def dashboard() -> KindDashboard:
    """Return the utility-tunnel dashboard."""
    return KindDashboard("Utility-tunnel compartments against their limits (GB 50838).", [
        _by_district("temperature", "max", "Warmest compartment", "Highest temperature per "
                     "interval; the line is 40 °C.", (0, 0, 12, 8),
                     thresholds("transparent", (40, "red"))),
        _by_district("o2_pct", "min", "Lowest oxygen", "Lowest O2 per interval; the line is "
                     "19.5 %.", (12, 0, 12, 8), thresholds("red", (19.5, "transparent"))),
        _by_district("ch4_lel", "max", "Highest methane", "Highest CH4 per interval; the "
                     "line is 20 % LEL.", (0, 8, 8, 8), thresholds("transparent", (20, "red"))),
        _by_district("h2s_mgm3", "max", "Highest H2S", "Highest H2S per interval; lines at "
                     "the 5 mg/m³ pre-alarm and the 10 mg/m³ limit.", (8, 8, 8, 8),
                     thresholds("transparent", (5, "orange"), (10, "red"))),
        _by_district("sump_water_cm", "max", "Highest sump", "Highest sump level per "
                     "interval; the line is 80 cm.", (16, 8, 8, 8),
                     thresholds("transparent", (80, "red"))),
        table("Compartments now, most methane", f"The {TOP_N} monitors with the highest "
              "last methane, with their last reading.", (0, 16, 24, 8), [top(SPEC, {
                  "ch4_lel": "ch4_lel", "temperature": "temperature", "o2": "o2_pct",
                  "h2s": "h2s_mgm3", "sump": "sump_water_cm"})], sort_by="ch4_lel"),
    ])


def overview() -> Overview:
    """Return the highest methane in the tunnels by district, for the city overview."""
    return Overview(charts=(_by_district(
        "ch4_lel", "max", "Utility-tunnel methane by district", "Highest CH4 per interval.",
        CHART, thresholds("transparent", (20, "red"))),))


def system() -> SystemPart:
    """Return the tunnels' gases and sump, for the underground-safety dashboard."""
    return SystemPart(UNDERGROUND, (
        _by_district("ch4_lel", "max", "Utility-tunnel methane by district", "Highest CH4 "
                     "per interval; the line is 20 % LEL.", (0, 0, 12, 8),
                     thresholds("transparent", (20, "red"))),
        _by_district("h2s_mgm3", "max", "Utility-tunnel H2S by district", "Highest H2S per "
                     "interval; lines at 5 and 10 mg/m³.", (0, 0, 12, 8),
                     thresholds("transparent", (5, "orange"), (10, "red"))),
    ))
