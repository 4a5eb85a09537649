"""Manhole covers: tilt, open and water-level sensors under the covers of underground wells."""

from urbanpulse.kinds.departments import FLOOD_CONTROL, MUNICIPAL
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, metrics

SPEC = SensorKind(
    name="manhole",
    title="Manhole covers",
    description="Manhole-cover sensors (tilt, open, water under the cover), on change and daily",
    interval_s=86_400,
    fiware_type="Device",
    department=MUNICIPAL, incident_departments={"manhole-flooding": FLOOD_CONTROL},
    ranked=(Ranking("tilt_deg"),),
    metrics=metrics(
        Metric("tilt_deg", "°", 0, 90, "Tilt of the cover from its seat"),
        Metric("cover_open", "bool", 0, 1, "1 when the cover is open or displaced"),
        Metric("water_level_cm", "cm", 0, 300, "Depth of water in the well under the cover"),
        Metric("battery_mv", "mV", 0, 4_000,
               "Battery voltage (startup, heartbeat and low-battery alarm)"),
        Metric("rsrp", "dBm", -156, -30, "NB-IoT reference signal received power"),
        Metric("message_type", "code", 0, 2, "Uplink: 0 startup, 1 change, 2 heartbeat"),
    ),
    attributes={
        "network": "What the well serves: sewer, storm, water, power or telecom",
        "depth_cm": "Depth of the well from the cover to its floor, cm",
        "site_use": "Land use of the site the well stands in",
    },
    faults=frozenset({"dropout", "offline", "battery-decay", "clock-skew", "duplicate",
                      "out-of-order", "malformed"}),
    incidents={
        "cover-displaced": "a vehicle or a thief knocks covers open: tilt 15-60°, open",
        "manhole-flooding": "a storm surcharges the wells: water rises to near the cover",
        "battery-flat": "a cell reaches the end of its life: it falls off its knee to about "
                        "3.1 V and the sensor raises its low-battery alarm; at the end a new "
                        "cell is fitted and the sensor restarts",
    },
)
