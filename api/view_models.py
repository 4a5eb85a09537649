"""Response models of the district views, parking guidance and the open-data export."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LotStatus = Literal["green", "yellow", "red"]
NoisePeriodName = Literal["day", "night"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class DistrictInfo(_Model):
    """A district and how many sensors of each kind stand in it."""

    district: str = Field(examples=["pudong"])
    sensors: dict[str, int] = Field(description="Sensors with a stored birth, by kind")


class DistrictList(_Model):
    """Every district that has at least one sensor, by name."""

    items: list[DistrictInfo]


class LotCounts(_Model):
    """Off-street lots by guidance status."""

    green: int = Field(description="Lots with more than 20 % of their spaces free")
    yellow: int = Field(description="Lots with 5 % to 20 % free")
    red: int = Field(description="Lots with less than 5 % free, or full")


class ParkingSummary(_Model):
    """Spaces in use and free: off-street lots plus on-street bays (one space each)."""

    lots: int = Field(description="Lots with a current reading")
    bays: int = Field(description="On-street bay sensors with a current state")
    total_spaces: int = Field(description="Spaces of those lots and bays")
    free_spaces: int = Field(description="Free spaces among them")
    occupancy: float | None = Field(
        description="Share of spaces in use, 0..1, to 4 places; null: none")
    lots_by_status: LotCounts


class AirSummary(_Model):
    """The district's current AQI (HJ 633) from the mean of its stations' readings."""

    stations: int = Field(description="Stations with a current reading")
    aqi: int | None = Field(description="AQI; null when no station reports")
    level: int | None = Field(description="HJ 633 level 1 (excellent) to 6 (severe)")
    category: str | None = Field(description="Category name", examples=["Good"])
    colour: str | None = Field(description="Category colour, #RRGGBB", examples=["#FFFF00"])
    colour_name: str | None = Field(description="Category colour name", examples=["yellow"])
    primary_pollutants: list[str] = Field(
        description="Pollutants whose IAQI equals the AQI; empty when AQI <= 50")


class WaterStation(_Model):
    """A water station's newest GB 3838 class against its target class."""

    sensor: str
    site: str
    water_class: int | None = Field(description="1..5 (I..V), 6 for worse than V; null: none")
    label: str | None = Field(description="The class as GB 3838 writes it", examples=["III"])
    target_class: int | None = Field(description="The class the site must meet (from its birth)")
    meets_target: bool | None = Field(description="Class at or better than the target")
    ts: int | None = Field(description="Time of the reading the class comes from, epoch ms")


class WaterSummary(_Model):
    """Every water station of the district, with how many meet their target."""

    stations: list[WaterStation]
    meeting_target: int = Field(description="Stations whose current class is at or better "
                                            "than their target")
    worse_than_target: int = Field(
        description="Stations whose current class is worse than their target; stations "
                    "without a current class or a target are in neither count")


class EnergySummary(_Model):
    """Electricity drawn since local midnight against the same weekday's usual draw."""

    buildings: int = Field(
        description="Buildings with a draw today: a register reading from 00:00 local time "
                    "to `at`, one on the previous local day, and a non-negative difference")
    today_kwh: float | None = Field(
        description="Drawn since 00:00 local time by those buildings, to 4 places; "
                    "null when no building has a draw today")
    baseline_kwh: float | None = Field(
        description="Mean draw from 00:00 to the same time of day on the same weekday of the "
                    "previous four weeks, summed over the buildings that have one")
    compared_buildings: int = Field(description="Buildings with both today's draw and a baseline")
    change_pct: float | None = Field(
        description="Today's draw of the compared buildings against their baseline, "
                    "percent to 4 places")


class NoisePeriod(_Model):
    """GB 3096 exceedances in the latest day (06-22) or night (22-06) period, local time."""

    period: NoisePeriodName
    start: int = Field(description="Period start, epoch ms")
    end: int = Field(description="Period end, or the summary time while it runs, epoch ms")
    monitors: int = Field(description="Monitors with readings in the period")
    readings: int = Field(description="Readings with a GB 3096 limit in the period")
    exceeding_readings: int = Field(description="Readings whose LAeq exceeded the limit")
    exceeding_monitors: int = Field(description="Monitors with at least one exceeding reading")


class NoiseSummary(_Model):
    """Exceedances of the latest day period and of the latest night period."""

    day: NoisePeriod
    night: NoisePeriod


class AlertCounts(_Model):
    """Active alerts (pending, firing or acknowledged) by severity, among the alerts
    that changed state in the 31 days before the summary's time."""

    total: int
    info: int
    low: int
    medium: int
    high: int
    critical: int


class DistrictSummary(_Model):
    """What a district looks like at one time."""

    district: str = Field(examples=["pudong"])
    at: int = Field(description="Time the summary describes, epoch ms")
    day_start: int = Field(description="Local (Asia/Shanghai) midnight of that day, epoch ms")
    parking: ParkingSummary
    air: AirSummary
    water: WaterSummary
    energy: EnergySummary
    noise: NoiseSummary
    alerts: AlertCounts


class Lot(_Model):
    """An off-street lot's free spaces and guidance status."""

    sensor: str = Field(examples=["parking-pudong-0003"])
    district: str
    site: str
    lat: float
    lon: float
    total_spaces: int
    free_spaces: int
    occupancy: float = Field(description="Share of spaces in use, 0..1, to 4 places")
    status: LotStatus
    ts: int = Field(description="Time of the lot's newest count, epoch ms")
    distance_m: float | None = Field(
        description="Great-circle distance from `near`, metres to 4 places; null without `near`")


class Guidance(_Model):
    """Lots for a parking guidance sign or app: nearest first, or most free spaces first."""

    items: list[Lot]
    total: int = Field(description="Lots that matched; `items` holds the first `limit` "
                                   "of them (there is no offset)")
    at: int = Field(description="Time the counts describe, epoch ms")


class MetricStats(_Model):
    """Mean, minimum and maximum of one metric over one hour."""

    mean: float = Field(description="Mean over the hour, to 4 places")
    min: float = Field(description="Smallest value of the hour, as stored")
    max: float = Field(description="Largest value of the hour, as stored")


class ExportRow(_Model):
    """One sensor's aggregates over one hour."""

    hour_start: int = Field(description="Start of the hour, epoch ms (UTC-aligned)")
    sensor: str
    district: str
    readings: int = Field(description="Readings in the hour")
    values: dict[str, MetricStats] = Field(description="Aggregates by catalog metric name")


class ExportMetadata(_Model):
    """What an export holds, where it comes from and under which licence."""

    title: str
    kind: str
    start: int = Field(description="Range start (inclusive, on the hour), epoch ms")
    end: int = Field(description="Range end (exclusive, on the hour), epoch ms")
    district: str | None
    units: dict[str, str] = Field(description="Unit of each metric of the kind")
    licence: str
    generated_at: str = Field(description="Generation time, ISO 8601 UTC")
    source: str


class Export(_Model):
    """Hourly aggregates per sensor of one kind: the open-data feed."""

    metadata: ExportMetadata
    rows: list[ExportRow]
