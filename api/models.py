"""Response models of the api: what every route returns, as shown in the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AttributeValue = bool | int | float | str


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorDetail(_Model):
    """An error with one sentence that says what went wrong."""

    detail: str = Field(description="What went wrong, as a sentence")


class Check(_Model):
    """The outcome of probing one server."""

    ok: bool = Field(description="Whether the server answered as expected")
    detail: str = Field(description="What the probe saw, as a sentence")


class Health(_Model):
    """Reachability of the MQTT broker and InfluxDB."""

    status: Literal["ok", "degraded"] = Field(description="'ok' when every check passed")
    mqtt: Check
    influxdb: Check


class Sensor(_Model):
    """A sensor's metadata, from its latest birth message."""

    sensor: str = Field(description="Sensor id", examples=["air-pudong-0007"])
    kind: str = Field(description="Sensor kind (catalog key)", examples=["air"])
    district: str = Field(description="District the sensor stands in", examples=["pudong"])
    site: str = Field(description="Site name")
    zone: str = Field(description="Zone or land use")
    lat: float = Field(description="Latitude, degrees (WGS 84)")
    lon: float = Field(description="Longitude, degrees (WGS 84)")
    interval_s: int = Field(description="Declared reporting interval, seconds")
    attributes: dict[str, AttributeValue] = Field(
        description="Static attributes of the kind (capacity, floor area, noise zone...)")
    birth_ts: int = Field(description="Time of the birth message, epoch milliseconds")


class SensorPage(_Model):
    """One page of sensors, ordered by sensor id."""

    items: list[Sensor]
    total: int = Field(description="Sensors matching the filters, over all pages")
    limit: int = Field(description="Most items this page could hold")
    offset: int = Field(description="Matching sensors skipped before this page")


class LatestReading(_Model):
    """The newest reading of a sensor."""

    ts: int = Field(description="Device time, epoch milliseconds")
    seq: int | None = Field(description="The sensor's message counter")
    values: dict[str, float] = Field(description="Metric values by catalog metric name")


class SensorDetail(Sensor):
    """A sensor's metadata and its newest reading."""

    latest: LatestReading | None = Field(description="Newest reading; null when none arrived")


class Point(_Model):
    """Metric values at one time: a raw reading or the mean over one bucket."""

    ts: int = Field(description="Reading time, or bucket start, epoch milliseconds")
    values: dict[str, float] = Field(description="Metric values by catalog metric name")


class Readings(_Model):
    """A sensor's readings over a time range, raw or as means per bucket."""

    sensor: str
    kind: str
    unit: dict[str, str] = Field(description="Unit of each metric of the kind")
    points: list[Point] = Field(description="Points in time order")
    truncated: bool = Field(
        description="True when the range held more points than the api returns at once")
