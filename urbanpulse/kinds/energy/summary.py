"""Energy in the district summary: electricity drawn today against the same weekday's.

Meters report cumulative registers, so the draw between two times is the
difference of the register readings: today's draw is the newest register at
or before the summary's `history_at` minus the last register of the previous local day.
The baseline of a building is the mean of the same quantity on the same
weekday of the previous four weeks, from 00:00 to the same time of day (the
usual "same weekday, same hours" baseline of energy monitoring; domain facts
§4). Days without readings at either end, or whose difference is negative (a
replaced meter), are left out; public holidays are not treated apart.

The registers come from one statement: for today and each of the four same
weekdays before, the last register of the day before and the last from midnight
to the time of day of the summary. The last register of a stretch is its newest
raw register reading or, where whole settled hours are read from the per-sensor
hourly rollups, `total_active_energy_import_max` of the newest hour (the register
only rises within an hour, except at a reset or a rollover), whichever is newer
(`history_spans`); the minute holding the cut time counts whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.influxql import Queries, quote_identifier
from urbanpulse.kinds.summaries import (
    DAY_MS,
    MINUTE_MS,
    Birth,
    Column,
    Section,
    SummaryRequest,
    derived,
    history_spans,
    history_statement,
    local_day_start,
)

REGISTER = "total_active_energy_import"
_LAST_REGISTER = Column("register", f"LAST({quote_identifier(f'{REGISTER}_max')})",
                        f"LAST({quote_identifier(REGISTER)})")
WEEKS = 4
_DAYS_BACK = tuple(7 * week for week in range(WEEKS + 1))
_Window = tuple[int, int, bool]
"""[start, end) of a stretch, epoch ms, and whether it ends at the cut (else at midnight)."""


class EnergySummary(BaseModel):
    """Electricity drawn since local midnight against the same weekday's usual draw."""

    model_config = ConfigDict(frozen=True)

    buildings: int = Field(
        description="Buildings with a draw today: a register reading from 00:00 local time "
                    "to `history_at`, one on the previous local day, and a non-negative difference")
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


def _windows(at_ms: int) -> dict[_Window, int]:
    """Return, keyed by stretch, how many days back each stretch's day is.

    Per day: the day before it (to midnight) and midnight to the cut's minute.
    """
    windows = {}
    for days_back in _DAYS_BACK:
        cut = at_ms - days_back * DAY_MS
        midnight = local_day_start(cut)
        windows[(midnight - DAY_MS, midnight, False)] = days_back
        windows[(midnight, cut - cut % MINUTE_MS + MINUTE_MS, True)] = days_back
    return windows


async def registers(queries: Queries, kind: str, district: str | None, *, at_ms: int
                    ) -> tuple[dict[str, dict[int, float]], dict[str, dict[int, float]]]:
    """Return per sensor the last register before each day's midnight and at its cut time,
    keyed by how many days back the day is."""
    windows = _windows(at_ms)
    spans = [span for start, end, _ in windows
             for span in history_spans(start, end, at_ms=at_ms)]
    series = await queries.query(history_statement(kind, district, [_LAST_REGISTER], spans))
    newest: dict[tuple[str, _Window], tuple[int, float]] = {}
    for one in series:
        sensor = one.tags.get("sensor", "")
        for row in one.rows():  # stamped with the bucket it picked: the newest wins
            if row["register"] is None:
                continue
            window = next(window for window in windows if window[0] <= row["time"] < window[1])
            if newest.get((sensor, window), (-1, 0.0))[0] < row["time"]:
                newest[sensor, window] = (row["time"], float(row["register"]))
    at_midnight: dict[str, dict[int, float]] = {}
    at_cut: dict[str, dict[int, float]] = {}
    for (sensor, window), (_, register) in newest.items():
        (at_cut if window[2] else at_midnight).setdefault(sensor, {})[windows[window]] = register
    return at_midnight, at_cut


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
    at_midnight, at_cut = await registers(queries, kind, district, at_ms=at_ms)
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
                                 at_ms=request.history_at)
    return summarise(request.births, draws)


SECTION = Section(EnergySummary, build)
