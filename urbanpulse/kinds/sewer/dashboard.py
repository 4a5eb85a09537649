"""The sewer dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.panels import (
    CHART,
    KindDashboard,
    Overview,
    SystemPart,
    by_district,
    by_sensor,
    colour_cells,
    grafana_unit,
    now,
    now_span,
    reporting,
    stat,
    table,
    target,
    thresholds,
    timeseries,
    top,
)
from urbanpulse.kinds.sewer import SPEC
from urbanpulse.kinds.systems import FLOOD
from urbanpulse.now import TOP_N

FILL = grafana_unit(SPEC.metrics["fill_ratio"])
FULL = thresholds("green", (0.8, "yellow"), (1.0, "orange"), (1.2, "red"))
"""Fill colours: part full, near the crown, surcharged, overflow risk."""


def dashboard() -> KindDashboard:
    """Return the sewer dashboard."""
    return KindDashboard("Level, fill ratio and flow of the drainage sewers; above a fill "
                         "ratio of 1 a pipe is surcharged.", [
        stat("Fullest pipe now", "Highest last fill ratio over the meters.", (0, 0, 12, 5),
             [target(f'SELECT max("fill_ratio_max") FROM ({now(SPEC)})')], unit=FILL,
             steps=FULL),
        stat("Meters reporting", f"Meters with a reading in the last {now_span(SPEC)}.",
             (12, 0, 12, 5), [target(reporting(SPEC))]),
        timeseries("Fill ratio by meter", "Highest fill ratio of each meter; lines at "
                   "1 (surcharge) and 1.2 (overflow risk).", (0, 5, 12, 9),
                   [by_sensor("fill_ratio", SPEC.name, "max")], unit=FILL, minimum=0,
                   steps=thresholds("transparent", (1.0, "orange"), (1.2, "red")),
                   threshold_style="line"),
        timeseries("Flow by meter", "Mean flow of each meter.", (12, 5, 12, 9),
                   [by_sensor("flow_m3s", SPEC.name)],
                   unit=grafana_unit(SPEC.metrics["flow_m3s"]), minimum=0),
        table("Fullest meters now", f"The {TOP_N} meters with the highest last fill ratio, "
              "with their last reading.", (0, 14, 24, 8), [top(SPEC, {
                  name: name for name in ("fill_ratio", "level_m", "flow_m3s",
                                          "velocity_ms")})],
              overrides=[colour_cells("fill_ratio", steps=FULL)], sort_by="fill_ratio"),
    ])


def overview() -> Overview:
    """Return the fullest sewer by district, for the city overview."""
    return Overview(charts=(timeseries(
        "Fullest sewer by district", "Highest fill ratio of the district's meters.", CHART,
        [by_district("fill_ratio", SPEC.name, "max")], unit=FILL, minimum=0),))


def system() -> SystemPart:
    """Return the sewer fill by district and the surcharged pipes, for the flood dashboard."""
    return SystemPart(FLOOD, (
        timeseries("Fullest sewer by district", "Highest fill ratio of the district's meters; "
                   "lines at 1 (surcharge) and 1.2 (overflow risk).", (0, 0, 12, 8),
                   [by_district("fill_ratio", SPEC.name, "max")], unit=FILL, minimum=0,
                   steps=thresholds("transparent", (1.0, "orange"), (1.2, "red")),
                   threshold_style="line"),
        stat("Surcharged pipes now", "Meters whose last fill ratio is 1 or more.",
             (12, 0, 6, 4), [target(f'SELECT sum("surcharged_count") FROM ({now(SPEC)})')],
             steps=thresholds("green", (1, "orange"))),
    ))
