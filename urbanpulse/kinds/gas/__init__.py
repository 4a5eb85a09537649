"""Combustible gas: methane detectors in wells and spaces next to gas mains."""

from urbanpulse.kinds.departments import GAS
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, metrics

SPEC = SensorKind(
    name="gas",
    title="Combustible gas",
    description="Methane detectors (% LEL) in wells and confined spaces next to gas mains",
    interval_s=60,
    fiware_type="AirQualityObserved",
    department=GAS,
    ranked=(Ranking("ch4_lel"),),
    metrics=metrics(
        Metric("ch4_lel", "% LEL", 0, 100, "Methane, % of its lower explosive limit (5 % vol)"),
        Metric("battery_mv", "mV", 0, 4_000, "Battery voltage (battery detectors, hourly)"),
        Metric("rsrp", "dBm", -156, -30, "NB-IoT reference signal received power (hourly)"),
    ),
    attributes={
        "space": "Where the detector stands: valve well, adjacent well or utility vault",
        "site_use": "Land use of the site the detector stands in",
    },
    faults=frozenset({"stuck", "drift", "bias", "spike", "dropout", "offline", "clock-skew",
                      "duplicate", "out-of-order", "malformed"}),
    incidents={"gas-leak": "a main leaks: % LEL ramps up to 35 (× magnitude) at the detectors"},
)
