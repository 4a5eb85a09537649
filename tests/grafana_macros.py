"""Grafana's expansion of an InfluxQL query: template variables and its macros.

What Grafana 11/12 does before a raw InfluxQL query reaches InfluxDB, for the
forms the dashboards use: `${name:regex}` (each value regex-escaped, several as
`(a|b)`), `${name:raw}`, the custom all value inserted as it is, and the
backend's `$timeFilter` (`time >= <from>ms and time <= <to>ms`), `$__interval`
and `$__interval_ms`, and the global `${__from}` and `${__to}` (the same range's
ends in epoch milliseconds). The interval is the range over the data points, rounded
as Grafana rounds, and never below the panel's or the data source's minimum.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence

ALL = ("$__all",)
"""A variable set to All."""
ALL_VALUE = ".*"
"""The custom all value of every multi-value variable of the dashboards."""
GLOBALS = ("__from", "__to")
"""Grafana's global variables the dashboards use: the time range's ends, epoch ms."""
REFERENCE = re.compile(r"\$(?:\{(\w+)(?::(\w+))?\}|(\w+))")
"""A variable reference: ${name}, ${name:format} or $name."""

# Grafana's interval rounding (rangeutil.roundInterval), in ms: (below, use).
_ROUNDING = ((1_500, 1_000), (3_500, 2_000), (7_500, 5_000), (12_500, 10_000),
             (17_500, 15_000), (25_000, 20_000), (45_000, 30_000), (90_000, 60_000),
             (210_000, 120_000), (450_000, 300_000), (750_000, 600_000), (1_050_000, 900_000),
             (1_500_000, 1_200_000), (2_700_000, 1_800_000), (5_400_000, 3_600_000),
             (9_000_000, 7_200_000), (16_200_000, 10_800_000), (32_400_000, 21_600_000))
_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))
MAX_DATA_POINTS = 1_000  # about a panel's width in pixels
DATASOURCE_MIN_INTERVAL = "1m"  # jsonData.timeInterval of the provisioned data source


def duration_ms(duration: str) -> int:
    """Return a Grafana duration such as 10s, 15m or 6h in milliseconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", duration)
    if not match:
        raise ValueError(f"{duration!r} is not a Grafana duration like 10s, 15m or 6h.")
    return int(match.group(1)) * dict(_UNITS)[match.group(2)]


def interval_ms(range_ms: int, minimum: str | None) -> int:
    """Return Grafana's $__interval: the range over the data points, rounded, not below min."""
    raw = range_ms / MAX_DATA_POINTS
    rounded = next((use for below, use in _ROUNDING if raw < below), 86_400_000)
    return max(rounded, duration_ms(minimum or DATASOURCE_MIN_INTERVAL))


def format_interval(ms: int) -> str:
    """Return an interval as Grafana writes it (gtime.FormatInterval): 1m, 15m, 10s."""
    return next(f"{ms // size}{unit}" for unit, size in _UNITS if ms % size == 0)


def regex_format(values: Sequence[str]) -> str:
    """Return Grafana's `regex` format: each value escaped, several as (a|b)."""
    escaped = [re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(), v) for v in values]
    return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"


def expand(text: str, selection: Mapping[str, Sequence[str]], *, range_ms: int,
           minimum: str | None, now_ms: int | None = None) -> str:
    """Expand variables (All is the custom all value `.*`) and Grafana's macros.

    The time range ends at `now_ms` (default: now).
    """

    def variable(match: re.Match[str]) -> str:
        name, form, bare = match.groups()
        if bare:
            return match.group()
        if name in GLOBALS:
            return str(now - range_ms if name == "__from" else now)
        values = selection[name]
        if tuple(values) == ALL:
            return ALL_VALUE
        return regex_format(values) if form == "regex" else ",".join(values)

    now = int(time.time() * 1000) if now_ms is None else now_ms
    every = interval_ms(range_ms, minimum)
    text = REFERENCE.sub(variable, text)
    return (text.replace("$timeFilter", f"time >= {now - range_ms}ms and time <= {now}ms")
            .replace("$__interval_ms", str(every))
            .replace("$__interval", format_interval(every)))
