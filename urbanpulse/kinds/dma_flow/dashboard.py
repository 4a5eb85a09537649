"""The DMA inflow dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.dma_flow import SPEC
from urbanpulse.kinds.panels import (
    CHART,
    EVERY,
    WHERE,
    KindDashboard,
    Overview,
    by_sensor,
    colour_cells,
    grafana_unit,
    table,
    target,
    thresholds,
    timeseries,
)

FLOW = grafana_unit(SPEC.metrics["inflow_m3h"])
MEASUREMENT = f'"{SPEC.name}"'


def dashboard() -> KindDashboard:
    """Return the DMA inflow dashboard."""
    return KindDashboard("Inflow of the district metered areas and their minimum night flow "
                         "(02-04 h), the leakage indicator.", [
        timeseries("Inflow by DMA", "Mean inflow of each DMA.", (0, 0, 24, 9),
                   [by_sensor("inflow_m3h", SPEC.name)], unit=FLOW, minimum=0),
        timeseries("Minimum night flow by DMA", "The logger's daily MNF of each DMA.",
                   (0, 9, 12, 8), [by_sensor("night_flow_m3h", SPEC.name, "last")],
                   unit=FLOW, minimum=0),
        table("DMAs now", "Each DMA's last inflow and its last night flow.", (12, 9, 12, 8),
              [target('SELECT last("inflow_m3h") AS "inflow", last("night_flow_m3h") AS '
                      f'"night_flow", last("night_flow_ratio") AS "night_ratio" FROM '
                      f'{MEASUREMENT} {WHERE} GROUP BY "sensor", "district"', table=True)],
              overrides=[colour_cells("night_ratio", steps=thresholds(
                  "green", (0.4, "orange"), (0.5, "red")))], sort_by="night_ratio"),
    ])


def overview() -> Overview:
    """Return the total DMA inflow by district, for the city overview."""
    return Overview(charts=(timeseries(
        "DMA inflow by district", "Mean inflow of the district's DMAs.", CHART,
        [target(f'SELECT mean("inflow_m3h") FROM {MEASUREMENT} {WHERE} {EVERY}, '
                '"district" fill(none)', alias="$tag_district")], unit=FLOW, minimum=0),))
