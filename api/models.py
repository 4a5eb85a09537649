"""Response models of the api: what every route returns, as shown in the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds import KINDS
from urbanpulse.messages import (
    ACK_BY_MAX,
    ACK_BY_PATTERN,
    ACK_NOTE_MAX,
    ACK_NOTE_PATTERN,
    AlertState,
    Severity,
)

AttributeValue = bool | int | float | str
KIND_EXAMPLES = list(KINDS)
"""The registered kinds' names: the examples of every `kind` field."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorDetail(_Model):
    """An error with one sentence that says what went wrong."""

    detail: str = Field(description="What went wrong, as a sentence")


INFLUX_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorDetail, "description": "InfluxDB refused the query"},
    503: {"model": ErrorDetail, "description": "InfluxDB is unreachable"},
}
"""The answers of every route that reads InfluxDB when InfluxDB fails it."""


def json_error(description: str) -> dict[str, Any]:
    """Return an OpenAPI response of an `ErrorDetail` in JSON.

    Stated in full because FastAPI would give a `model=` response the media type of
    the route's own (CSV, event stream), while every error is JSON.
    """
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorDetail"}}}}


class Check(_Model):
    """The outcome of probing one server."""

    ok: bool = Field(description="Whether the server answered as expected")
    detail: str = Field(description="What the probe saw, as a sentence")


class Health(_Model):
    """Reachability of the MQTT broker and InfluxDB, and whether the latest state is loaded."""

    status: Literal["ok", "degraded"] = Field(description="'ok' when every check passed")
    mqtt: Check
    influxdb: Check
    state: Check = Field(description="The latest state in memory: loaded (seeded from InfluxDB "
                                     "and following MQTT) or not yet, with its counts")
    exports: Check = Field(description="The exports' settled hours rendered ahead: what is kept "
                                       "and how the last pass went (never fails the status)")


class Sensor(_Model):
    """A sensor's metadata, from its latest birth message."""

    sensor: str = Field(description="Sensor id", examples=["air-pudong-0007"])
    kind: str = Field(description="Sensor kind (catalog key)", examples=KIND_EXAMPLES)
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


AlertStateName = AlertState
SeverityName = Severity
"""The contract's names, under the names the api's parameters use."""


class Alert(_Model):
    """One state of one alert: the alert (rule, sensor) as it was after one change."""

    alert_id: str = Field(description="Fingerprint of (rule, sensor); stable across episodes",
                          examples=["3f2a9c0d1e4b5a69"])
    rule: str = Field(description="Rule name", examples=["lot-nearly-full"])
    sensor: str = Field(description="Sensor id, or district-{name} for district rules",
                        examples=["parking-pudong-0001"])
    kind: str = Field(description="Sensor kind (catalog key)", examples=KIND_EXAMPLES)
    district: str = Field(description="District", examples=["pudong"])
    state: AlertStateName = Field(description="Lifecycle state after this change")
    severity: SeverityName
    ts: int = Field(description="Time of this change, epoch milliseconds")
    since: int = Field(description="Start of this episode (the condition turned true), epoch ms")
    message: str = Field(description="What the rule saw, as a sentence")
    value: float | None = Field(None, description="The value that triggered the change")
    acked_by: str | None = Field(None, description="Who acknowledged the alert")
    note: str | None = Field(None, description="The acknowledgement's note")


class AlertPage(_Model):
    """One page of alerts in their current state, newest change first."""

    items: list[Alert]
    total: int = Field(description="Alerts matching the filters, over all pages")
    limit: int = Field(description="Most items this page could hold")
    offset: int = Field(description="Matching alerts skipped before this page")


class AlertDetail(Alert):
    """An alert's current state and its state changes, newest first."""

    history: list[Alert] = Field(description="State changes, newest first")


class AckRequest(_Model):
    """Who acknowledges an alert, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The document states the whole rule (`urbanpulse.messages`), which the route checks
    # with Python's `re` (its lookahead is beyond pydantic's regex engine): a client
    # following the document is then never refused.
    by: str = Field(min_length=1, max_length=ACK_BY_MAX, pattern=r"\S",
                    description="Who acknowledges: a name or handle, no control characters",
                    examples=["duty-officer"], json_schema_extra={"pattern": ACK_BY_PATTERN})
    note: str = Field("", max_length=ACK_NOTE_MAX,
                      description="Free text kept with the alert (tabs and line feeds allowed, "
                                  "no other control characters)",
                      examples=["Guidance signs switched to lot B."],
                      json_schema_extra={"pattern": ACK_NOTE_PATTERN})
