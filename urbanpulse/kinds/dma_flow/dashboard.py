"""The DMA inflow dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.dma_flow import SPEC
from urbanpulse.kinds.panels import (
    CHART,
    KindDashboard,
    Overview,
    SystemPart,
    by_district,
    by_sensor,
    colour_cells,
    grafana_unit,
    now_over_time,
    table,
    target,
    thresholds,
    timeseries,
    top,
)
from urbanpulse.kinds.systems import WATER_SUPPLY
from urbanpulse.now import TOP_N

"""The per-sensor hourly rollup: a point per sensor and hour."""
FLOW = grafana_unit(SPEC.metrics["inflow_m3h"])


def dashboard() -> KindDashboard:
    """Return the DMA inflow dashboard."""
    return KindDashboard("Inflow of the district metered areas and their minimum night flow "
                         "(02-04 h), the leakage indicator.", [
        timeseries("Inflow by district", "Mean inflow of the district's DMAs.", (0, 0, 12, 9),
                   [by_district("inflow_m3h", SPEC.name)], unit=FLOW, minimum=0),
        timeseries("Inflow by DMA", "Mean inflow of each DMA.", (12, 0, 12, 9),
                   [by_sensor("inflow_m3h", SPEC.name)], unit=FLOW, minimum=0),
        timeseries("Minimum night flow by DMA", "The logger's daily MNF of each DMA.",
                   (0, 9, 12, 8), [by_sensor("night_flow_m3h", SPEC.name, "last")],
                   unit=FLOW, minimum=0),
        table("DMAs now, highest night ratio", f"The {TOP_N} DMAs with the highest last "
              "night flow ratio, with their last inflow and night flow.", (12, 9, 12, 8),
              [top(SPEC, {"night_ratio": "night_flow_ratio", "inflow": "inflow_m3h",
                          "night_flow": "night_flow_m3h"})],
              overrides=[colour_cells("night_ratio", steps=thresholds(
                  "green", (0.4, "orange"), (0.5, "red")))], sort_by="night_ratio"),
    ])


def overview() -> Overview:
    """Return the total DMA inflow by district, for the city overview."""
    return Overview(charts=(timeseries(
        "DMA inflow by district", "Mean inflow of the district's DMAs.", CHART,
        [by_district("inflow_m3h", SPEC.name)], unit=FLOW, minimum=0),))


def system() -> SystemPart:
    """Return the minimum night flow and the inflow, for the water-supply dashboard."""
    return SystemPart(WATER_SUPPLY, (
        timeseries("Minimum night flow by district", "Sum of the district's DMAs' last "
                   "minimum night flow (02-04 h), the leakage indicator.", (0, 0, 12, 8),
                   [target(now_over_time(SPEC, "night_flow_m3h_sum"), alias="$tag_district")],
                   unit=FLOW, minimum=0, interval="1h"),
        table("Night flow ratio by DMA", f"The {TOP_N} DMAs with the highest last minimum "
              "night flow's share of the mean inflow; 0.4 and more suggests leakage.",
              (12, 0, 12, 8), [top(SPEC, {"night_ratio": "night_flow_ratio",
                                          "night_flow": "night_flow_m3h"})],
              overrides=[colour_cells("night_ratio", steps=thresholds(
                  "green", (0.4, "orange"), (0.5, "red")))], sort_by="night_ratio"),
    ))
