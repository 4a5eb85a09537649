"""Parking: off-street lots that count their spaces and on-street bay sensors."""

from urbanpulse.kinds.departments import TRAFFIC
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, metrics

SPEC = SensorKind(
    name="parking",
    title="Parking",
    description="Parking lots (counts) and on-street bay sensors (occupancy)",
    interval_s=60,
    fiware_type="OffStreetParking",
    department=TRAFFIC,
    ranked=(Ranking("occupancy"), Ranking("battery_mv", lowest=True)),
    metrics=metrics(
        Metric("total_spot_number", "spaces", 0, 100_000, "Spaces the lot has in service"),
        Metric("available_spot_number", "spaces", 0, 100_000, "Free spaces now"),
        Metric("occupancy", "ratio", 0, 1, "Share of spaces in use (0..1)"),
        Metric("occupied", "bool", 0, 1, "Bay sensor: 1 when a vehicle stands on the bay"),
        Metric("battery_mv", "mV", 0, 4_000, "Bay sensor battery voltage"),
        Metric("rsrp", "dBm", -156, -30, "NB-IoT reference signal received power"),
        Metric("snr", "dB", -20, 40, "Bay sensor signal-to-noise ratio"),
        Metric("temperature", "°C", -40, 85, "Bay sensor temperature (heartbeat)"),
        Metric("message_type", "code", 0, 2,
               "Bay uplink: 0 startup, 1 status change, 2 heartbeat"),
        Metric("prev_state_duration_min", "min", 0, 525_600,
               "Bay sensor: minutes the previous state lasted"),
    ),
    attributes={
        "device": "lot (counts its spaces) or bay (one on-street space)",
        "capacity": "Spaces of a lot",
        "land_use": "What the lot serves: office, retail, residential, hotel",
        "site_use": "Land use of the site the sensor stands in",
    },
    mixes=("parking_use",),
    faults=frozenset({"dropout", "offline", "battery-decay", "clock-skew", "duplicate",
                      "out-of-order", "malformed"}),
    incidents={"venue-event": "lots and bays around the venue fill (occupancy >= 0.97)"},
)
