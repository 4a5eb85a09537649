"""Request parameters of the sensor and alert routes, validated where FastAPI parses them.

Each parameter type carries its own checks, so a bad value is a 422 whose
`detail[].loc` names the parameter, exactly like FastAPI's own validation
errors. Checks that need two parameters or the settings (a time range) raise
`RequestValidationError` in the same shape through `invalid`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BeforeValidator

from api.models import AlertStateName, SeverityName
from urbanpulse.kinds import KINDS, get_kind
from urbanpulse.topics import NAME_PATTERN

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)  # InfluxDB stores nanoseconds in an int64
DEFAULT_SPAN = timedelta(hours=1)
ALERT_SPAN = timedelta(hours=24)

_DURATION = re.compile(r"^(?:\d{1,6}(?:ms|s|m|h|d|w))+$")
_UNITS = "(?:ms|s|m|h|d|w)"
_NON_ZERO = (r"(?:[1-9]\d{0,5}|0[1-9]\d{0,4}|00[1-9]\d{0,3}|000[1-9]\d{0,2}|0000[1-9]\d?"
             r"|00000[1-9])")  # one to six digits, not all zero
_POSITIVE_DURATION = rf"^(?:\d{{1,6}}{_UNITS})*{_NON_ZERO}{_UNITS}(?:\d{{1,6}}{_UNITS})*$"
"""A duration with at least one non-zero part, as the OpenAPI document states it."""
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def _known_kind(name: str) -> str:
    try:
        get_kind(name)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    return name


def duration_ms(text: str) -> int:
    """Return the length of an InfluxQL duration such as `1h30m`, in milliseconds."""
    if not _DURATION.match(text):
        raise ValueError(
            f"{text!r} is not a duration: use whole numbers with units ms, s, m, h, d or w, "
            "such as 30s, 15m, 1h or 1h30m")
    return sum(int(count) * _UNIT_MS[unit] for count, unit in _PART.findall(text))


def _positive_duration(text: str) -> str:
    if duration_ms(text) <= 0:
        raise ValueError(f"{text!r} is an empty duration: buckets must be at least 1ms long")
    return text


TIME_PATTERN = r"^(?:197[1-9]|19[89]\d|2[01]\d\d|22[0-5]\d|2260)-"
"""Times start with a year from 1971 to 2260: whatever its UTC offset, such a time lies
where InfluxDB stores times (1970 to 2262). The OpenAPI document states the pattern."""
_TIME_START = re.compile(TIME_PATTERN)


def _time_text(value: Any) -> Any:
    """Refuse text that does not start with a year the api accepts.

    This also refuses a bare number, which pydantic would read as epoch seconds.
    """
    if isinstance(value, str) and not _TIME_START.match(value):
        raise ValueError(f"{value!r} is not an ISO 8601 time from the years 1971 to 2260, "
                         "such as 2025-11-22T08:00:00Z")
    return value


def _utc_in_range(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not EPOCH <= moment < LATEST:
        raise ValueError("must lie between 1970-01-01 and 2262-01-01 UTC")
    return moment.astimezone(UTC)


OptionalTime = Annotated[
    datetime | None, BeforeValidator(_time_text),
    AfterValidator(lambda v: v if v is None else _utc_in_range(v)),
]
"""An optional ISO 8601 time: refused outside 1970-2262, returned in UTC."""


def time_query(description: str) -> Any:
    """Return the `Query` of an `OptionalTime` parameter, its pattern shown in OpenAPI."""
    return Query(json_schema_extra={"pattern": TIME_PATTERN}, description=description)


KindQuery = Annotated[
    str | None, AfterValidator(lambda v: v if v is None else _known_kind(v)),
    Query(description="Only sensors of this kind (a catalog key such as air or parking)",
          json_schema_extra={"enum": sorted(KINDS)}),
]
DistrictQuery = Annotated[
    str | None, Query(pattern=NAME_PATTERN, description="Only sensors in this district"),
]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Most items on one page")]
OffsetQuery = Annotated[
    int, Query(ge=0, le=1_000_000_000, description="Matching sensors to skip before the page"),
]
SensorPath = Annotated[
    str, Path(pattern=NAME_PATTERN, description="Sensor id", examples=["air-pudong-0007"]),
]
StartQuery = Annotated[OptionalTime, time_query(
    "Range start, ISO 8601 (inclusive; default: one hour before end)")]
EndQuery = Annotated[OptionalTime, time_query(
    "Range end, ISO 8601 (exclusive; default: now)")]
StateQuery = Annotated[
    AlertStateName | None,
    Query(description="Only alerts whose current state is this one"),
]
SeverityQuery = Annotated[SeverityName | None, Query(description="Only alerts of this severity")]
AlertKindQuery = Annotated[
    str | None, AfterValidator(lambda v: v if v is None else _known_kind(v)),
    Query(description="Only alerts on sensors of this kind",
          json_schema_extra={"enum": sorted(KINDS)}),
]
AlertDistrictQuery = Annotated[
    str | None, Query(pattern=NAME_PATTERN, description="Only alerts in this district"),
]
SensorQuery = Annotated[
    str | None, Query(pattern=NAME_PATTERN, description="Only alerts on this sensor"),
]
AlertOffsetQuery = Annotated[
    int, Query(ge=0, le=1_000_000_000, description="Matching alerts to skip before the page"),
]
AlertIdPath = Annotated[
    str, Path(pattern=NAME_PATTERN, description="Alert id (fingerprint of rule and sensor)",
              examples=["3f2a9c0d1e4b5a69"]),
]
AlertStartQuery = Annotated[OptionalTime, time_query(
    "Range start, ISO 8601 (inclusive; default: 24 hours before end)")]
HistoryQuery = Annotated[
    int, Query(ge=1, le=1000, description="Most state changes in the history"),
]
EveryQuery = Annotated[
    str | None, AfterValidator(lambda v: v if v is None else _positive_duration(v)),
    Query(json_schema_extra={"pattern": _POSITIVE_DURATION},
          description="Bucket length (InfluxQL duration such as 1m, 15m, 1h): "
                      "mean per bucket instead of raw readings"),
]


COMBINATION_ERROR = "parameter_combination"
"""Error `type` of a 422 that no single parameter causes: a range too wide, `end` not after
`start`, an export too large, a required choice between parameters left open. The
OpenAPI document cannot express these rules, so a client learns them from the sentence."""


def invalid(parameter: str, message: str, value: Any) -> RequestValidationError:
    """Return a 422 error for query `parameter` in a combination of parameters and limits,
    shaped like FastAPI's own."""
    return RequestValidationError([{
        "type": COMBINATION_ERROR, "loc": ("query", parameter), "msg": message, "input": value,
    }])


def to_ms(moment: datetime) -> int:
    """Return an aware datetime as epoch milliseconds."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _iso(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def resolve_range(start: datetime | None, end: datetime | None, *, now: datetime,
                  max_range_s: int, span: timedelta = DEFAULT_SPAN,
                  align_ms: int = 1) -> tuple[int, int]:
    """Fill in the default range (`span` before `end`), widen it to whole `align_ms`
    steps, and check the range that will be queried; return epoch ms.

    Raises:
        RequestValidationError: `end` is not after `start`, or the widened range is
            wider than `max_range_s` (named as `start`, the bound to move).
    """
    end = end or now
    start = start or max(end - span, EPOCH)
    if end <= start:
        raise invalid("end", f"end ({end.isoformat()}) must be after start "
                             f"({start.isoformat()})", end.isoformat())
    start_ms = to_ms(start) // align_ms * align_ms
    end_ms = -(-to_ms(end) // align_ms) * align_ms
    if end_ms - start_ms > max_range_s * 1000:
        seconds = f"{(end_ms - start_ms) / 1000:.3f}".rstrip("0").rstrip(".")
        widened = "" if align_ms == 1 else (
            f", widened to {_iso(start_ms)}..{_iso(end_ms)},")
        raise invalid("start", f"the range from start to end{widened} is {seconds} s, "
                               f"more than the allowed {max_range_s} s", start.isoformat())
    return start_ms, end_ms


# Latitude -90..90, longitude -180..180, up to ten decimals: the documented pattern admits
# only places, so a schema-valid value never meets the range check below.
_NEAR = (r"^-?(90(\.0{1,10})?|[1-8]?\d(\.\d{1,10})?),"
         r"-?(180(\.0{1,10})?|(1[0-7]\d|[1-9]?\d)(\.\d{1,10})?)$")
_NEAR_TEXT = re.compile(_NEAR)


def _coordinates_in_range(text: str) -> str:
    if not _NEAR_TEXT.match(text):
        raise ValueError(f"{text!r} is not a place: write lat,lon in WGS 84 decimal degrees, "
                         "latitude in -90..90 and longitude in -180..180, such as "
                         "31.2304,121.4737")
    lat, lon = parse_near(text)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{text!r} is not a place: latitude must lie in -90..90 and "
                         "longitude in -180..180 (WGS 84 degrees)")
    return text


def parse_near(text: str) -> tuple[float, float]:
    """Return `lat,lon` (already validated by `NearQuery`) as two floats."""
    lat, lon = text.split(",")
    return float(lat), float(lon)


AtQuery = Annotated[OptionalTime, time_query(
    "Time the summary describes, ISO 8601 (default: now)")]
DistrictPath = Annotated[
    str, Path(pattern=NAME_PATTERN, description="District name", examples=["pudong"]),
]
NearQuery = Annotated[
    str | None, AfterValidator(lambda v: v if v is None else _coordinates_in_range(v)),
    Query(json_schema_extra={"pattern": _NEAR},
          description="Place to measure distances from, as lat,lon in WGS 84 degrees",
          examples=["31.2304,121.4737"]),
]
RadiusQuery = Annotated[
    int, Query(ge=1, le=50_000, description="With `near`: only items this close, metres"),
]
ViewLimitQuery = Annotated[int, Query(ge=1, le=500, description="Most items in the answer")]
ExportKindPath = Annotated[
    str, AfterValidator(_known_kind),
    Path(pattern=NAME_PATTERN, description="Sensor kind (a catalog key)",
         json_schema_extra={"enum": sorted(KINDS)}),
]
ExportStartQuery = Annotated[OptionalTime, time_query(
    "Range start, ISO 8601, rounded down to the hour (default: 24 hours before end)")]
ExportEndQuery = Annotated[OptionalTime, time_query(
    "Range end, ISO 8601, exclusive, rounded up to the hour (default: now)")]
ExportDistrictQuery = Annotated[
    str | None, Query(pattern=NAME_PATTERN, description="Only sensors in this district"),
]
