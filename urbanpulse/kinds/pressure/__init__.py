"""Water-supply pressure: monitoring points on the trunk mains and at the network ends."""

from urbanpulse.kinds.departments import WATER_SUPPLY
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, Tally, metrics, tallies

SERVICE_PRESSURE_MPA = 0.14
"""The least pressure CJJ 58 asks for at the network end, MPa."""

SPEC = SensorKind(
    name="pressure",
    title="Supply pressure",
    description="Pressure monitoring points of the water-supply network (trunk and network end)",
    interval_s=60,
    fiware_type="WaterObserved",
    department=WATER_SUPPLY,
    ranked=(Ranking("pressure_mpa", lowest=True),),
    metrics=metrics(
        Metric("pressure_mpa", "MPa", 0, 1.6, "Gauge pressure of the main"),
    ),
    tallies=tallies(Tally("pressure_service_count", "pressure_mpa",
                          "Readings at or above the CJJ 58 service pressure, 0.14 MPa",
                          at_least=SERVICE_PRESSURE_MPA)),
    attributes={
        "position": "network-end (CJJ 58 service-pressure point) or trunk (on a trunk main)",
        "site_use": "Land use of the site the point stands in",
    },
    faults=frozenset({"stuck", "drift", "bias", "spike", "dropout", "offline", "clock-skew",
                      "duplicate", "out-of-order", "malformed"}),
    incidents={"main-burst": "a main bursts: pressure falls 0.05-0.15 MPa within a minute "
                             "(times the magnitude) and stays low until it is repaired"},
)
