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
from pydantic import AfterValidator

from api.models import AlertStateName, SeverityName
from urbanpulse.catalog import get_kind
from urbanpulse.topics import NAME_PATTERN

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)  # InfluxDB stores nanoseconds in an int64
DEFAULT_SPAN = timedelta(hours=1)
ALERT_SPAN = timedelta(hours=24)

_DURATION = re.compile(r"^(?:\d{1,6}(?:ms|s|m|h|d|w))+$")
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


def _utc_in_range(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not EPOCH <= moment < LATEST:
        raise ValueError("must lie between 1970-01-01 and 2262-01-01 UTC")
    return moment.astimezone(UTC)


KindQuery = Annotated[
    str | None, AfterValidator(lambda v: v if v is None else _known_kind(v)),
    Query(description="Only sensors of this kind (a catalog key such as air or parking)"),
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
StartQuery = Annotated[
    datetime | None, AfterValidator(lambda v: v if v is None else _utc_in_range(v)),
    Query(description="Range start, ISO 8601 (inclusive; default: one hour before end)"),
]
EndQuery = Annotated[
    datetime | None, AfterValidator(lambda v: v if v is None else _utc_in_range(v)),
    Query(description="Range end, ISO 8601 (exclusive; default: now)"),
]
StateQuery = Annotated[
    AlertStateName | None,
    Query(description="Only alerts whose current state is this one"),
]
SeverityQuery = Annotated[SeverityName | None, Query(description="Only alerts of this severity")]
AlertKindQuery = Annotated[
    str | None, AfterValidator(lambda v: v if v is None else _known_kind(v)),
    Query(description="Only alerts on sensors of this kind"),
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
AlertStartQuery = Annotated[
    datetime | None, AfterValidator(lambda v: v if v is None else _utc_in_range(v)),
    Query(description="Range start, ISO 8601 (inclusive; default: 24 hours before end)"),
]
HistoryQuery = Annotated[
    int, Query(ge=1, le=1000, description="Most state changes in the history"),
]
EveryQuery = Annotated[
    str | None, AfterValidator(lambda v: v if v is None else _positive_duration(v)),
    Query(description="Bucket length (InfluxQL duration such as 1m, 15m, 1h): "
                      "mean per bucket instead of raw readings"),
]


def invalid(parameter: str, message: str, value: Any) -> RequestValidationError:
    """Return a 422 error for query `parameter`, shaped like FastAPI's own."""
    return RequestValidationError([{
        "type": "value_error", "loc": ("query", parameter), "msg": message, "input": value,
    }])


def to_ms(moment: datetime) -> int:
    """Return an aware datetime as epoch milliseconds."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def resolve_range(start: datetime | None, end: datetime | None, *, now: datetime,
                  max_range_s: int, span: timedelta = DEFAULT_SPAN) -> tuple[int, int]:
    """Fill in the default range (`span` before `end`) and check it; return epoch ms.

    Raises:
        RequestValidationError: `end` is not after `start`, or the range is wider
            than `max_range_s` (named as `start`, the bound to move).
    """
    end = end or now
    start = start or max(end - span, EPOCH)
    if end <= start:
        raise invalid("end", f"end ({end.isoformat()}) must be after start "
                             f"({start.isoformat()})", end.isoformat())
    span = end - start
    if span > timedelta(seconds=max_range_s):
        seconds = f"{span.total_seconds():.3f}".rstrip("0").rstrip(".")
        raise invalid("start", f"the range from start to end is {seconds} s, "
                               f"more than the allowed {max_range_s} s", start.isoformat())
    return to_ms(start), to_ms(end)
