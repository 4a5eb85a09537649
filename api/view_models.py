"""Response models of the district list, the parts of a summary no kind owns, and the export.

The kinds' sections of the district summary and the items of their views are
declared by the kinds (`urbanpulse/kinds/<kind>/summary.py`); `api.district_summary`
and `api.kind_views` build the responses around them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class DistrictInfo(_Model):
    """A district and how many sensors of each kind stand in it."""

    district: str = Field(examples=["pudong"])
    sensors: dict[str, int] = Field(description="Sensors with a stored birth, by kind")


class DistrictList(_Model):
    """Every district that has at least one sensor, by name."""

    items: list[DistrictInfo]


class AlertCounts(_Model):
    """Active alerts (pending, firing or acknowledged) by severity, among the alerts
    that changed state in the 31 days before the summary's time."""

    total: int
    info: int
    low: int
    medium: int
    high: int
    critical: int


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
