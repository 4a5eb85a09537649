"""Energy in the district summary: electricity drawn today against the same weekday's.

Meters report cumulative registers, so the draw between two times is the
difference of the register readings: today's draw is the newest register at
or before the summary time minus the last register of the previous local day.
The baseline of a building is the mean of the same quantity on the same
weekday of the previous four weeks, from 00:00 to the same time of day (the
usual "same weekday, same hours" baseline of energy monitoring; domain facts
§4). Days without readings at either end, or whose difference is negative (a
replaced meter), are left out; public holidays are not treated apart.

One InfluxQL statement gives the last register of each local day of the past
four weeks (`GROUP BY time(1d, <local midnight>)`), five more the last register
between midnight and the time of day of the summary, today and on each of the
four same weekdays before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.influxql import Queries, quote_identifier, tag_equals, time_from, where
from urbanpulse.kinds.summaries import (
    DAY_MS,
    Birth,
    Section,
    SummaryRequest,
    derived,
    local_day_start,
)

REGISTER = "total_active_energy_import"
WEEKS = 4
_SPAN_DAYS = 7 * WEEKS + 1
_DAYS_BACK = tuple(7 * week for week in range(WEEKS + 1))


class EnergySummary(BaseModel):
    """Electricity drawn since local midnight against the same weekday's usual draw."""

    model_config = ConfigDict(frozen=True)

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


@dataclass(frozen=True, slots=True)
class BuildingDraw:
    """One building's draw today and its baseline, kWh (None: not known)."""

    sensor: str
    today_kwh: float | None
    baseline_kwh: float | None


async def _last_per_day(queries: Queries, kind: str, district: str | None, end_ms: int
                        ) -> dict[str, dict[int, float]]:
    """Return, per sensor, the last register of each day-long window ending at `end_ms`.

    The windows are keyed by how many days before `end_ms` they end.
    """
    offset = end_ms % DAY_MS
    condition = where(tag_equals("district", district),
                      time_from(end_ms - _SPAN_DAYS * DAY_MS), f"time < {end_ms}ms")
    series = await queries.query(
        f"SELECT LAST({quote_identifier(REGISTER)}) AS {quote_identifier('register')} "
        f"FROM {quote_identifier(kind)}{condition} "
        f"GROUP BY time(1d, {offset}ms), {quote_identifier('sensor')} fill(none)")
    registers: dict[str, dict[int, float]] = {}
    for one in series:
        windows = registers.setdefault(one.tags.get("sensor", ""), {})
        for row in one.rows():
            if row["register"] is not None:
                windows[(end_ms - row["time"] - DAY_MS) // DAY_MS] = float(row["register"])
    return registers


async def _last_since_midnight(queries: Queries, kind: str, district: str | None, *, at_ms: int,
                               days_back: int) -> dict[str, dict[int, float]]:
    """Return, per sensor, the last register from midnight to the time of day of `at_ms`,
    `days_back` days ago (keyed by `days_back`, to merge with the other days)."""
    end = at_ms - days_back * DAY_MS
    condition = where(tag_equals("district", district),
                      time_from(local_day_start(end)), f"time <= {end}ms")
    series = await queries.query(
        f"SELECT LAST({quote_identifier(REGISTER)}) AS {quote_identifier('register')} "
        f"FROM {quote_identifier(kind)}{condition} GROUP BY {quote_identifier('sensor')}")
    return {one.tags.get("sensor", ""): {days_back: float(row["register"])}
            for one in series for row in one.rows() if row["register"] is not None}


def _draw(at_cut: dict[int, float], at_midnight: dict[int, float], days_back: int
          ) -> float | None:
    """Return the draw from midnight to the cut time, `days_back` days ago."""
    end, start = at_cut.get(days_back), at_midnight.get(days_back)
    if end is None or start is None or end < start:
        return None
    return end - start


async def building_draws(queries: Queries, kind: str, district: str | None, *, at_ms: int
                         ) -> list[BuildingDraw]:
    """Return today's draw and the baseline of every building that has one today.

    A building has one when it has a register reading from local midnight to `at_ms`,
    one in the previous local day, and the difference is not negative.
    """
    # Windows ending at each local midnight hold the register at the start of that day.
    at_midnight, *days = await asyncio.gather(
        _last_per_day(queries, kind, district, local_day_start(at_ms)),
        *(_last_since_midnight(queries, kind, district, at_ms=at_ms, days_back=days_back)
          for days_back in _DAYS_BACK))
    at_cut: dict[str, dict[int, float]] = {}
    for day in days:
        for sensor, registers in day.items():
            at_cut.setdefault(sensor, {}).update(registers)
    draws = []
    for sensor, cuts in sorted(at_cut.items()):
        midnights = at_midnight.get(sensor, {})
        today = _draw(cuts, midnights, 0)
        if today is None:
            continue
        past = [d for week in range(1, WEEKS + 1)
                if (d := _draw(cuts, midnights, 7 * week)) is not None]
        draws.append(BuildingDraw(sensor, today, fmean(past) if past else None))
    return draws


def summarise(buildings: Sequence[Birth], draws: Sequence[BuildingDraw]
                     ) -> EnergySummary:
    """Return the summary of the draws of `buildings` (the others are ignored)."""
    wanted = {sensor.sensor for sensor in buildings}
    mine = [draw for draw in draws if draw.sensor in wanted and draw.today_kwh is not None]
    compared = [draw for draw in mine if draw.baseline_kwh is not None]
    baseline = sum(draw.baseline_kwh or 0.0 for draw in compared)
    compared_today = sum(draw.today_kwh or 0.0 for draw in compared)
    return EnergySummary(
        buildings=len(mine),
        today_kwh=derived(sum(draw.today_kwh or 0.0 for draw in mine)) if mine else None,
        baseline_kwh=derived(baseline) if compared else None,
        compared_buildings=len(compared),
        change_pct=derived(100 * (compared_today - baseline) / baseline)
        if compared and baseline > 0 else None)


async def build(request: SummaryRequest) -> EnergySummary:
    """Return the energy section from the draws of the district's buildings."""
    if not request.births:  # no meter, no history to read
        return summarise([], [])
    draws = await building_draws(request.queries, request.kind, request.district,
                                 at_ms=request.at_ms)
    return summarise(request.births, draws)


SECTION = Section(EnergySummary, build)
