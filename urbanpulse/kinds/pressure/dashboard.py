"""The supply-pressure dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds import Metric
from urbanpulse.kinds.panels import (
    CHART,
    EVERY,
    KindDashboard,
    Overview,
    SystemPart,
    by_district,
    by_sensor,
    colour_cells,
    district_filter,
    grafana_unit,
    stat,
    table,
    target,
    thresholds,
    timeseries,
    top,
)
from urbanpulse.kinds.pressure import SERVICE_PRESSURE_MPA, SPEC
from urbanpulse.kinds.systems import WATER_SUPPLY
from urbanpulse.now import TOP_N
from urbanpulse.rollups import rollup_measurement

MPA = grafana_unit(SPEC.metrics["pressure_mpa"])
LIMIT = SERVICE_PRESSURE_MPA
"""The CJJ 58 network-end service pressure, drawn as a line and coloured red."""
COMPLIANCE = 0.97
TALLY = "pressure_service_count"
"""The kind's tally of readings at or above `LIMIT` (the same CJJ 58 pressure)."""
"""The share of readings at or above `LIMIT` the supply-service standards ask for."""


def dashboard() -> KindDashboard:
    """Return the supply-pressure dashboard."""
    return KindDashboard("Pressure of the supply network: trunk mains and network ends "
                         "against the CJJ 58 0.14 MPa.", [
        timeseries("Pressure by point", "Mean pressure of each point; the line is 0.14 MPa.",
                   (0, 0, 24, 9), [by_sensor("pressure_mpa", SPEC.name)], unit=MPA,
                   minimum=0, steps=thresholds("transparent", (LIMIT, "red")),
                   threshold_style="line"),
        timeseries("Lowest pressure by district", "The lowest reading of the district's "
                   "points per interval.", (0, 9, 12, 8),
                   [by_district("pressure_mpa", SPEC.name, "min")], unit=MPA, minimum=0),
        table("Lowest points now", f"The {TOP_N} points with the lowest last pressure.",
              (12, 9, 12, 8), [top(SPEC, {"pressure": "pressure_mpa"}, lowest=True)],
              overrides=[colour_cells("pressure", steps=thresholds(
                  "red", (LIMIT, "orange"), (0.2, "green")))], sort_by="pressure"),
    ])


def overview() -> Overview:
    """Return the mean supply pressure by district, for the city overview."""
    return Overview(charts=(timeseries(
        "Supply pressure by district", "Mean pressure of the district's points.", CHART,
        [by_district("pressure_mpa", SPEC.name, "mean")], unit=MPA, minimum=0),))


def _compliance(group: str) -> str:
    """Return the share of readings at or above 0.14 MPa, from the districts' minute rollups:
    the kind's tally of such readings over their `count`, a point per district and minute
    whatever the number of gauges (the raw readings took 4.9 s over 24 h at 22,150 sensors)."""
    return (f'SELECT sum("{TALLY}") / sum("count") AS "compliance" FROM '
            f'"{rollup_measurement(SPEC.name, "district", "1m")}" WHERE $timeFilter AND '
            f"{district_filter()}{group}")


def system() -> SystemPart:
    """Return the pressure compliance, for the water-supply dashboard."""
    share = grafana_unit(Metric("share", "ratio", 0, 1, "Share of readings"))
    steps = thresholds("red", (COMPLIANCE, "green"))
    return SystemPart(WATER_SUPPLY, (
        stat("Pressure compliance", f"Share of the points' readings in the time range at or "
             f"above {LIMIT} MPa; CJJ 58 asks for {COMPLIANCE:.0%}.", (0, 0, 6, 4),
             [target(_compliance(""))], unit=share, decimals=1, steps=steps),
        timeseries("Pressure compliance by district", f"Share of readings at or above {LIMIT} "
                   "MPa per interval.", (6, 0, 12, 8),
                   [target(_compliance(f' {EVERY}, "district" fill(none)'),
                           alias="$tag_district")], unit=share, minimum=0,
                   steps=thresholds("red", (COMPLIANCE, "transparent")),
                   threshold_style="line"),
        timeseries("Lowest pressure by district", "The lowest reading of the district's "
                   f"points per interval; the line is {LIMIT} MPa.", (0, 0, 12, 8),
                   [by_district("pressure_mpa", SPEC.name, "min")], unit=MPA, minimum=0,
                   steps=thresholds("transparent", (LIMIT, "red")), threshold_style="line"),
    ))
