"""Ponding: water-depth gauges at the low points of underpasses and low-lying roads."""

from urbanpulse.kinds.departments import FLOOD_CONTROL, WATER_SUPPLY
from urbanpulse.kinds.spec import (
    DerivedField,
    Metric,
    Ranking,
    SensorKind,
    Tally,
    derived,
    metrics,
    tallies,
)

SPEC = SensorKind(
    name="ponding",
    title="Road ponding",
    description="Water-depth gauges at underpasses and low-lying roads (积水监测)",
    interval_s=60,
    fiware_type="FloodMonitoring",
    department=FLOOD_CONTROL, incident_departments={"main-burst-flooding": WATER_SUPPLY},
    ranked=(Ranking("depth_cm"),),
    metrics=metrics(
        Metric("depth_cm", "cm", 0, 150, "Water depth over the road at the gauge"),
    ),
    derived=derived(
        DerivedField("stage", "integer", "",
                     "Response stage: 0 dry (<5 cm), 1 notify (>=5), 2 report to the "
                     "flood HQ (>=15), 3 close the underpass (>=25)"),
    ),
    tallies=tallies(
        Tally("flood_point_count", "stage", "Readings at stage 1 or more (5 cm: a flood point)",
              at_least=1),
        Tally("close_count", "stage", "Readings at stage 3 (25 cm: close the underpass)",
              at_least=3)),
    attributes={
        "site_type": "underpass or low-road",
        "capacity_mm_h": "Rain intensity the site's drainage carries without ponding, mm/h",
        "site_use": "Land use of the site the gauge stands at",
    },
    faults=frozenset({"spike", "dropout", "offline", "clock-skew", "duplicate",
                      "out-of-order", "malformed"}),
    incidents={
        "cloudburst-ponding": "a storm cell (a cloudburst, a typhoon's rain bands; +80 mm/h "
                              "at magnitude 1) over the site: depth rises past 25 cm within "
                              "the hour",
        "main-burst-flooding": "a burst water main floods the road: its water ponds as a "
                               "storm of 80 mm/h x magnitude would",
    },
)
