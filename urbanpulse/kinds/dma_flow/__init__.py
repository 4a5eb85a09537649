"""District metered areas (DMA): the inflow meters that balance a district's water."""

from urbanpulse.kinds.departments import WATER_SUPPLY
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, metrics

SPEC = SensorKind(
    name="dma-flow",
    title="DMA inflow",
    description="Inflow meters of district metered areas, with the logger's daily minimum "
                "night flow",
    interval_s=300,
    fiware_type="WaterObserved",
    department=WATER_SUPPLY,
    ranked=(Ranking("night_flow_ratio"),),
    metrics=metrics(
        Metric("inflow_m3h", "m³/h", 0, 5_000, "Inflow into the DMA"),
        Metric("volume_m3", "m³", 0, 1e10, "Cumulative inflow register", cumulative=True),
        Metric("night_flow_m3h", "m³/h", 0, 5_000,
               "Minimum night flow (MNF) of the last 02-04 h window, reported once a day"),
        Metric("night_flow_ratio", "ratio", 0, 10,
               "MNF over the mean inflow of the 24 h before, reported with it"),
    ),
    attributes={
        "mean_flow_m3h": "Design mean inflow of the DMA, m³/h",
        "site_use": "Land use of the site the meter stands in",
    },
    faults=frozenset({"stuck", "drift", "spike", "dropout", "offline", "clock-skew",
                      "duplicate", "out-of-order", "malformed", "meter-reset",
                      "meter-rollover"}),
    incidents={
        "main-burst-inflow": "a main bursts inside the DMA: inflow rises by the burst's "
                             "60-150 m³/h (times the magnitude) until it is repaired",
        "leak": "a background leak appears (30 % of the mean flow times the magnitude) and "
                "grows 10 % a day: the minimum night flow rises",
    },
)
