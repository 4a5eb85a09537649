"""The sensor-kind catalog: every kind's metrics, units, physical ranges and cadence.

The catalog key is the kind's one spelling everywhere: topic segment, InfluxDB
measurement, simulator model, dashboard file and rules key. Built-in kinds
register here exactly as a new kind would, through `register`.

Ranges are *physical* bounds (what a working instrument can report at all),
not normal operating ranges: a reading outside them is rejected as
`out-of-range`, anything inside is data for the alert engine to judge.
Metric names follow the FIWARE Smart Data Models in snake_case where one exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from urbanpulse.topics import check_name

_METRIC_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class Metric:
    """One quantity a kind reports, with its unit and physical range."""

    name: str
    unit: str
    low: float
    high: float
    description: str

    def __post_init__(self) -> None:
        if not _METRIC_NAME.match(self.name):
            raise ValueError(f"Invalid metric name {self.name!r}: use [a-z][a-z0-9_]*.")
        if not self.low < self.high:
            raise ValueError(f"Metric {self.name!r} has an empty range {self.low}..{self.high}.")

    def contains(self, value: float) -> bool:
        """Return whether `value` is a finite number inside the physical range."""
        return self.low <= value <= self.high  # False for NaN as well


@dataclass(frozen=True, slots=True)
class SensorKind:
    """A kind of sensor: its metrics and its default reporting interval."""

    name: str
    description: str
    interval_s: int
    fiware_type: str
    metrics: Mapping[str, Metric] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, what="kind name")
        if self.interval_s <= 0:
            raise ValueError(f"Kind {self.name!r} needs a positive interval, "
                             f"not {self.interval_s}.")
        if not self.metrics:
            raise ValueError(f"Kind {self.name!r} declares no metrics.")
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))


_KINDS: dict[str, SensorKind] = {}
KINDS: Mapping[str, SensorKind] = MappingProxyType(_KINDS)
"""Every registered kind by name (read-only view)."""


def register(kind: SensorKind) -> SensorKind:
    """Add a kind to the catalog; a second kind of the same name is refused."""
    if kind.name in _KINDS:
        raise ValueError(f"Sensor kind {kind.name!r} is already registered.")
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> SensorKind:
    """Return the kind called `name`, or raise KeyError naming the known kinds."""
    try:
        return _KINDS[name]
    except KeyError:
        known = ", ".join(sorted(_KINDS))
        raise KeyError(f"Unknown sensor kind {name!r}; known kinds are {known}.") from None


def _metrics(*metrics: Metric) -> dict[str, Metric]:
    return {m.name: m for m in metrics}


PARKING = register(SensorKind(
    name="parking",
    description="Parking lots (counts) and on-street bay sensors (occupancy)",
    interval_s=60,
    fiware_type="OffStreetParking",
    metrics=_metrics(
        Metric("total_spot_number", "spaces", 0, 100_000, "Spaces the lot has in service"),
        Metric("available_spot_number", "spaces", 0, 100_000, "Free spaces now"),
        Metric("occupancy", "ratio", 0, 1, "Share of spaces in use (0..1)"),
        Metric("occupied", "bool", 0, 1, "Bay sensor: 1 when a vehicle stands on the bay"),
        Metric("battery_mv", "mV", 0, 4_000, "Bay sensor battery voltage"),
        Metric("rsrp", "dBm", -156, -30, "NB-IoT reference signal received power"),
        Metric("snr", "dB", -20, 40, "Bay sensor signal-to-noise ratio"),
        Metric("temperature", "°C", -40, 85, "Bay sensor temperature (heartbeat)"),
        Metric("message_type", "code", 0, 2, "Bay uplink: 0 startup, 1 status change, 2 heartbeat"),
        Metric("prev_state_duration_min", "min", 0, 525_600,
               "Bay sensor: minutes the previous state lasted"),
    ),
))

AIR = register(SensorKind(
    name="air",
    description="Air-quality stations (HJ 633 pollutants plus temperature and humidity)",
    interval_s=60,
    fiware_type="AirQualityObserved",
    metrics=_metrics(
        Metric("pm25", "µg/m³", 0, 2_000, "Fine particulate matter PM2.5"),
        Metric("pm10", "µg/m³", 0, 3_000, "Particulate matter PM10"),
        Metric("no2", "µg/m³", 0, 4_000, "Nitrogen dioxide"),
        Metric("so2", "µg/m³", 0, 3_000, "Sulphur dioxide"),
        Metric("co", "mg/m³", 0, 200, "Carbon monoxide"),
        Metric("o3", "µg/m³", 0, 1_500, "Ozone"),
        Metric("temperature", "°C", -50, 60, "Air temperature"),
        Metric("relative_humidity", "%", 0, 100, "Relative humidity"),
    ),
))

WATER = register(SensorKind(
    name="water",
    description="Surface-water quality stations (GB 3838 basic items)",
    interval_s=600,
    fiware_type="WaterQualityObserved",
    metrics=_metrics(
        Metric("temperature", "°C", -5, 45, "Water temperature"),
        Metric("ph", "pH", 0, 14, "pH"),
        Metric("dissolved_oxygen", "mg/L", 0, 25, "Dissolved oxygen (DO)"),
        Metric("conductivity", "µS/cm", 0, 100_000, "Electrical conductivity"),
        Metric("turbidity", "NTU", 0, 4_000, "Turbidity"),
        Metric("nh3_n", "mg/L", 0, 100, "Ammonia nitrogen (NH3-N)"),
        Metric("codmn", "mg/L", 0, 100, "Permanganate index (CODMn)"),
        Metric("tp", "mg/L", 0, 50, "Total phosphorus"),
    ),
))

ENERGY = register(SensorKind(
    name="energy",
    description="Building electricity meters with the public-building sub-metering items",
    interval_s=900,
    fiware_type="ThreePhaseAcMeasurement",
    metrics=_metrics(
        Metric("total_active_energy_import", "kWh", 0, 1e10, "Cumulative register, building"),
        Metric("total_active_power", "kW", 0, 200_000, "Mean active power over the interval"),
        Metric("lighting_socket_kwh", "kWh", 0, 1e10, "Cumulative register, lighting and sockets"),
        Metric("hvac_kwh", "kWh", 0, 1e10, "Cumulative register, HVAC"),
        Metric("power_kwh", "kWh", 0, 1e10, "Cumulative register, power (lifts, pumps, fans)"),
        Metric("special_kwh", "kWh", 0, 1e10, "Cumulative register, special (data centre…)"),
    ),
))

NOISE = register(SensorKind(
    name="noise",
    description="Environmental noise monitors by GB 3096 acoustic zone",
    interval_s=60,
    fiware_type="NoiseLevelObserved",
    metrics=_metrics(
        Metric("laeq", "dB(A)", 10, 150, "Equivalent continuous A-weighted level"),
        Metric("lamax", "dB(A)", 10, 160, "Maximum A-weighted level over the interval"),
        Metric("la10", "dB(A)", 10, 150, "Level exceeded 10 % of the time"),
        Metric("la90", "dB(A)", 10, 150, "Level exceeded 90 % of the time (background)"),
    ),
))
