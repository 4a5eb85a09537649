"""Drainage pump stations: forebay level, pumps running and discharge to the river (放江)."""

from urbanpulse.kinds.departments import FLOOD_CONTROL
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, metrics

SPEC = SensorKind(
    name="pump",
    title="Drainage pump stations",
    description="Storm-water pump stations: forebay level, pumps running, discharge to the river",
    interval_s=300,
    fiware_type="PumpingStation",
    department=FLOOD_CONTROL,
    ranked=(Ranking("forebay_level_m"),),
    metrics=metrics(
        Metric("forebay_level_m", "m", 0, 10, "Water level in the forebay above its floor"),
        Metric("pumps_running", "pumps", 0, 12, "Main pumps running now"),
        Metric("discharge_m3s", "m³/s", 0, 60, "Flow the running pumps lift"),
        Metric("river_discharge", "bool", 0, 1,
               "1 while the station discharges to the river (放江)"),
        Metric("river_level_m", "m", 0, 8, "River level at the outfall (Wusong datum)"),
    ),
    attributes={
        "pumps": "Main pumps installed",
        "pump_m3s": "Capacity of one pump, m³/s",
        "site_use": "Land use of the site the station serves",
    },
    faults=frozenset({"stuck", "dropout", "offline", "clock-skew", "duplicate",
                      "out-of-order", "malformed"}),
    incidents={"pump-discharge": "a storm cell (+80 mm/h at magnitude 1) over the station's "
                                 "catchment: the forebay rises, every pump starts and the "
                                 "station discharges to the river"},
)
