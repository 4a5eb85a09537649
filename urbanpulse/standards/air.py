"""HJ 633-2012 air quality index: IAQI per pollutant, AQI, category and primary pollutant.

Breakpoints are HJ 633-2012 Table 1 and categories Table 2, as recorded in
`/work/shared/reference/domain-facts.md` §1.1-1.2 (see `docs/standards.md`).

Real-time indicator. HJ 633 defines the hourly real-time AQI (实时报) from 1-h
means of SO2, NO2, CO and O3, with the 1-h PM10 and PM2.5 means evaluated
against the 24-h PM breakpoints. Our stations report minute values, and the
platform applies those same tables to the *current reading*: gases against the
1-h table, particulates against the 24-h table. That is a simplification (one
reading is not an hourly mean), good enough for an alerting indicator; the
alert engine may average first and pass the mean instead.

Rules this module applies:

- IAQI is linear interpolation inside the bracketing breakpoints, computed
  on the concentration's shortest decimal form (38.2 is 191/5, not the binary
  float just above it, which would round 54 up to 55; results near an integer
  are settled in exact decimal arithmetic), then rounded **up** to an integer
  (HJ 633: 进位取整数). AQI is the largest IAQI.
- SO2 1-h above 800 µg/m³: HJ 633 computes no 1-h IAQI and reports the 24-h
  one. Having no 24-h mean of a single reading, the concentration itself is
  evaluated against the 24-h table (both tables give 200 at 800, so the index
  stays continuous and non-decreasing).
- O3 8-h above 800 µg/m³: no 8-h IAQI; the concentration is evaluated against
  the O3 1-h table, as HJ 633 reports the 1-h IAQI instead.
- Above the highest breakpoint the standard defines no IAQI; it is capped at 500.
- The primary pollutant(s) are those whose IAQI equals the AQI, and there are
  none when the AQI is 50 or less. Pollutants with IAQI over 100 are reported
  as exceeding (超标污染物).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Final, Literal, NoReturn

Averaging = Literal["1h", "8h", "24h"]

POLLUTANTS = ("so2", "no2", "pm10", "co", "o3", "pm25")
"""The six HJ 633 pollutants, by catalog metric name, in the standard's table order."""

IAQI_STEPS = (0, 50, 100, 150, 200, 300, 400, 500)
"""The IAQI value at each breakpoint column of HJ 633 Table 1."""

BREAKPOINTS: Mapping[tuple[str, str], tuple[int, ...]] = MappingProxyType({
    # (pollutant, averaging): concentrations at IAQI 0, 50, 100, 150, 200, 300, 400, 500.
    # µg/m³, except CO in mg/m³ (the catalog's units).
    ("so2", "24h"): (0, 50, 150, 475, 800, 1600, 2100, 2620),
    ("so2", "1h"): (0, 150, 500, 650, 800),  # above 800: the 24-h table
    ("no2", "24h"): (0, 40, 80, 180, 280, 565, 750, 940),
    ("no2", "1h"): (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    ("pm10", "24h"): (0, 50, 150, 250, 350, 420, 500, 600),
    ("co", "24h"): (0, 2, 4, 14, 24, 36, 48, 60),
    ("co", "1h"): (0, 5, 10, 35, 60, 90, 120, 150),
    ("o3", "1h"): (0, 160, 200, 300, 400, 800, 1000, 1200),
    ("o3", "8h"): (0, 100, 160, 215, 265, 800),  # above 800: the 1-h table
    ("pm25", "24h"): (0, 35, 75, 115, 150, 250, 350, 500),
})

_REALTIME_PM = frozenset({"pm10", "pm25"})
"""Pollutants whose 1-h value HJ 633 evaluates against the 24-h table (实时报)."""

_FALLBACK = {("so2", "1h"): ("so2", "24h"), ("o3", "8h"): ("o3", "1h")}
"""Tables that end at 800 µg/m³, and the table HJ 633 uses above that."""

IAQI_MAX: Final = 500
_NEAR_INTEGER: Final = 1e-6
_WHOLE_LIMIT: Final = float(2**53)  # below it, every whole-number double is exact


@dataclass(frozen=True, slots=True)
class AqiCategory:
    """One row of HJ 633 Table 2: an AQI band with its level, names and colour."""

    level: int
    low: int
    high: int | None  # None: open-ended (AQI > 300)
    name_en: str
    name_zh: str
    colour_name: str
    colour: str  # "#RRGGBB"


AQI_CATEGORIES = (
    AqiCategory(1, 0, 50, "Excellent", "优", "green", "#00E400"),
    AqiCategory(2, 51, 100, "Good", "良", "yellow", "#FFFF00"),
    AqiCategory(3, 101, 150, "Lightly polluted", "轻度污染", "orange", "#FF7E00"),
    AqiCategory(4, 151, 200, "Moderately polluted", "中度污染", "red", "#FF0000"),
    AqiCategory(5, 201, 300, "Heavily polluted", "重度污染", "purple", "#99004C"),
    AqiCategory(6, 301, None, "Severely polluted", "严重污染", "maroon", "#7E0023"),
)


@dataclass(frozen=True, slots=True)
class AqiResult:
    """An AQI with its category and the per-pollutant IAQIs it came from."""

    aqi: int
    level: int
    category_en: str
    category_zh: str
    colour: str
    primary: tuple[str, ...]
    exceeding: tuple[str, ...]
    iaqi: Mapping[str, int] = field(hash=False)


def _table(pollutant: str, averaging: str) -> tuple[str, str]:
    if pollutant not in POLLUTANTS:
        raise ValueError(f"Unknown HJ 633 pollutant {pollutant!r}; "
                         f"known are {', '.join(POLLUTANTS)}.")
    if averaging == "1h" and pollutant in _REALTIME_PM:
        return pollutant, "24h"
    key = (pollutant, averaging)
    if key not in BREAKPOINTS:
        valid = sorted({a for p, a in BREAKPOINTS if p == pollutant} |
                       ({"1h"} if pollutant in _REALTIME_PM else set()))
        raise ValueError(f"HJ 633 has no {averaging!r} IAQI for {pollutant!r}; "
                         f"use one of {', '.join(valid)}.")
    return key


_Table = tuple[float, ...]


def _tables(pollutant: str, averaging: str) -> tuple[_Table, _Table | None]:
    """Return the breakpoints of (pollutant, averaging) and those used above them, as floats.

    Floats because the per-reading interpolation, compiled, then runs on machine
    doubles instead of mixing Python ints and floats (three times as fast).
    """
    key = _table(pollutant, averaging)
    fallback = _FALLBACK.get(key)
    return (tuple(map(float, BREAKPOINTS[key])),
            tuple(map(float, BREAKPOINTS[fallback])) if fallback else None)


_TABLES = {(p, a): _tables(p, a) for p in POLLUTANTS for a in ("1h", "8h", "24h")
           if (p, a) in BREAKPOINTS or (p in _REALTIME_PM and a == "1h")}
"""(pollutant, averaging) → its breakpoints and the table used above them, resolved once."""

_REALTIME: Final = tuple((p, *_TABLES[p, "1h"]) for p in POLLUTANTS)
_STEPS: Final = tuple(map(float, IAQI_STEPS))
_LEVEL_TOPS: Final = tuple(c.high for c in AQI_CATEGORIES if c.high is not None)


def iaqi(pollutant: str, concentration: float, *, averaging: Averaging = "1h") -> int:
    """Return the HJ 633 IAQI of one concentration, rounded up to an integer.

    Args:
        pollutant: catalog metric name, one of `POLLUTANTS`.
        concentration: in the catalog unit (µg/m³, CO in mg/m³), finite and >= 0.
        averaging: "1h" (real-time; PM uses the 24-h table), "8h" (O3 only) or
            "24h" (not O3).

    Raises:
        ValueError: unknown pollutant, averaging the standard lacks for it, or a
            negative or non-finite concentration.
    """
    points, fallback = _TABLES.get((pollutant, averaging)) or _tables(pollutant, averaging)
    if not math.isfinite(concentration) or concentration < 0:
        raise ValueError(f"Concentration of {pollutant!r} must be finite and >= 0, "
                         f"not {concentration!r}.")
    return _iaqi(points, fallback, concentration)


def _iaqi(points: _Table, fallback: _Table | None, concentration: float) -> int:
    """Return the IAQI of a finite concentration >= 0 on `points` (`fallback` above them)."""
    if fallback is not None and concentration > points[-1]:
        points = fallback
    last = len(points) - 1
    if concentration >= points[last]:
        return IAQI_STEPS[last] if concentration == points[last] else IAQI_MAX
    hi = 1
    while points[hi] < concentration:  # bisect_left, but at least 1; points[last] stops it
        hi += 1
    bp_lo, bp_hi = points[hi - 1], points[hi]
    i_lo, i_hi = _STEPS[hi - 1], _STEPS[hi]
    value = i_lo + (i_hi - i_lo) * (concentration - bp_lo) / (bp_hi - bp_lo)
    nearest = round(value)
    if abs(value - nearest) > _NEAR_INTEGER:
        return math.ceil(value)
    # Near an integer the float may sit on the wrong side: decide exactly, on the
    # decimal as written (38.2 is 191/5, not the binary float just above it), in
    # integers: with c = numerator / scale, is (c - low) · step <= (nearest - i_lo) ·
    # (high - low)? The breakpoints and steps are whole numbers.
    low, high, step = int(bp_lo), int(bp_hi), int(i_hi - i_lo)
    numerator, scale = _as_written(concentration)
    exact = (numerator - low * scale) * step
    return nearest if exact <= (nearest - int(i_lo)) * (high - low) * scale else nearest + 1


def _as_written(value: float) -> tuple[int, int]:
    """Return (numerator, scale): `value`'s shortest decimal form is numerator / scale.

    A whole number below 2**53 is its own decimal form, with no text at all;
    otherwise the digits of `repr` are read as an integer (the exponent forms,
    1e-05 or 1.5e+16, through Decimal). Concentrations are often whole numbers
    (µg/m³), and at a breakpoint their index is a whole number too: this is the
    common way here, not a corner.
    """
    if value.is_integer() and value < _WHOLE_LIMIT:
        return int(value), 1
    text = repr(value)
    if "e" in text:
        return Decimal(text).as_integer_ratio()
    whole, _, fraction = text.partition(".")
    return int(whole + fraction), 10 ** len(fraction)


def aqi_category(value: int) -> AqiCategory:
    """Return the HJ 633 Table 2 category of an (integer) AQI value."""
    if value < 0:
        raise ValueError(f"An AQI is >= 0, not {value!r}.")
    for category in AQI_CATEGORIES:
        if category.high is None or value <= category.high:
            return category
    raise AssertionError("unreachable: the last category is open-ended")


def aqi_from_iaqis(iaqis: Mapping[str, int]) -> AqiResult:
    """Combine per-pollutant IAQIs (any keys, e.g. "o3_8h") into an AQI result."""
    if not iaqis:
        raise ValueError("An AQI needs at least one IAQI; none was given.")
    value = max(iaqis.values())
    category = aqi_category(value)
    primary = tuple(p for p, i in iaqis.items() if i == value) if value > 50 else ()
    exceeding = tuple(p for p, i in iaqis.items() if i > 100)
    return AqiResult(aqi=value, level=category.level, category_en=category.name_en,
                     category_zh=category.name_zh, colour=category.colour, primary=primary,
                     exceeding=exceeding, iaqi=MappingProxyType(dict(iaqis)))


def realtime_aqi(values: Mapping[str, float]) -> tuple[int, int, tuple[str, ...]]:
    """Return (AQI, level, primary pollutants) of one air reading: `aqi(values)` in brief.

    The ingester's per-reading path: the same IAQIs as `aqi`, without the
    category names, exceeding pollutants and the per-pollutant mapping.

    Raises:
        ValueError: as `aqi` does.
    """
    value = -1
    primary: list[str] = []  # the pollutants whose IAQI is the largest so far
    for pollutant, points, fallback in _REALTIME:
        concentration = values.get(pollutant)
        if concentration is not None:
            if not 0 <= concentration < math.inf:  # NaN fails this too
                iaqi(pollutant, concentration)  # raises, naming the value
            index = _iaqi(points, fallback, concentration)
            if index > value:
                value, primary = index, [pollutant]
            elif index == value:
                primary.append(pollutant)
    if value < 0:
        return _no_pollutant(values)
    return value, bisect_left(_LEVEL_TOPS, value) + 1, tuple(primary) if value > 50 else ()


def _no_pollutant(values: Mapping[str, float]) -> NoReturn:
    raise ValueError(f"No HJ 633 pollutant among {sorted(values)}; "
                     f"expected some of {', '.join(POLLUTANTS)}.")


def aqi(values: Mapping[str, float]) -> AqiResult:
    """Return the real-time AQI of one air reading's values.

    Keys that are not HJ 633 pollutants (temperature, humidity...) are ignored;
    each pollutant present is evaluated with `averaging="1h"` (see the module
    docstring). IAQIs, primary and exceeding pollutants follow HJ 633 table order.

    Raises:
        ValueError: no pollutant in `values`, or a concentration `iaqi` refuses.
    """
    present = [p for p in POLLUTANTS if p in values]
    if not present:
        _no_pollutant(values)
    return aqi_from_iaqis({p: iaqi(p, values[p]) for p in present})
