"""The utility-tunnel dashboard and its panel on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.panels import (
    CHART,
    EVERY,
    WHERE,
    Grid,
    Json,
    KindDashboard,
    Overview,
    SystemPart,
    grafana_unit,
    table,
    target,
    thresholds,
    timeseries,
)
from urbanpulse.kinds.systems import UNDERGROUND
from urbanpulse.kinds.tunnel import SPEC


def _by_district(field: str, function: str, title: str, description: str, grid: Grid,
                 steps: Json) -> Json:
    return timeseries(title, description, grid, [target(
        f'SELECT {function}("{field}") FROM "tunnel" {WHERE} {EVERY}, "district" fill(none)',
        alias="$tag_district")], unit=grafana_unit(SPEC.metrics[field]), steps=steps,
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
        table("Compartments now", "Each monitor's last reading.", (0, 16, 24, 8), [target(
            'SELECT last("temperature") AS "temperature", last("o2_pct") AS "o2", '
            'last("ch4_lel") AS "ch4_lel", last("h2s_mgm3") AS "h2s", '
            f'last("sump_water_cm") AS "sump" FROM "tunnel" {WHERE} GROUP BY "sensor", '
            '"district"', table=True)], sort_by="ch4_lel"),
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
