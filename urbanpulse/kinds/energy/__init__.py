"""Building energy: public-building electricity meters with sub-metered registers."""

from urbanpulse.kinds.departments import BUILDING_ENERGY
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, metrics

SPEC = SensorKind(
    name="energy",
    title="Building energy",
    description="Building electricity meters with the public-building sub-metering items",
    interval_s=900,
    fiware_type="ThreePhaseAcMeasurement",
    department=BUILDING_ENERGY,
    ranked=(Ranking("total_active_power"),),
    metrics=metrics(
        Metric("total_active_energy_import", "kWh", 0, 1e10, "Cumulative register, building",
               cumulative=True),
        Metric("total_active_power", "kW", 0, 200_000, "Mean active power over the interval"),
        Metric("lighting_socket_kwh", "kWh", 0, 1e10,
               "Cumulative register, lighting and sockets", cumulative=True),
        Metric("hvac_kwh", "kWh", 0, 1e10, "Cumulative register, HVAC", cumulative=True),
        Metric("power_kwh", "kWh", 0, 1e10, "Cumulative register, power (lifts, pumps, fans)",
               cumulative=True),
        Metric("special_kwh", "kWh", 0, 1e10, "Cumulative register, special (data centre…)",
               cumulative=True),
    ),
    attributes={
        "building_type": "office, mall, hotel, hospital or government",
        "floor_area_m2": "Floor area, m²",
        "site_use": "Land use of the site the building stands in",
    },
    mixes=("building_type",),
    faults=frozenset({"stuck", "dropout", "offline", "clock-skew", "duplicate", "out-of-order",
                      "malformed", "meter-reset", "meter-rollover"}),
    incidents={"hvac-holiday": "HVAC left running at its working level"},
)
