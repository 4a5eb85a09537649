"""Noise in the district summary: GB 3096 exceedances by day (06-22) and night (22-06).

Day and night are local time.

The ingester stores, with every noise reading of a monitor whose zone it knows,
the limit in force at the reading's local hour (`noise_limit_db`) and whether
LAeq exceeded it (`noise_exceeds_limit`). A summary counts them over the latest
day period and the latest night period at its time: the one running, or else
the one that ended last. At 14:00 that is today's day so far and last night;
at 23:00 today's whole day and tonight so far.

The counts are per monitor (`monitors` needs each monitor's), over the period up
to the end of the minute holding `at`, in one statement for both periods: from
the per-sensor hourly rollups where whole hours are settled, the kind's tally
`noise_limit_db_count` (readings with a limit) and the boolean's
`noise_exceeds_limit_true`, summed; from the raw points elsewhere
(`history_spans`), the readings carrying `noise_limit_db` and those with
`noise_exceeds_limit` true, counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.influxql import Queries
from urbanpulse.kinds.noise import SPEC
from urbanpulse.kinds.summaries import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Birth,
    Section,
    SummaryRequest,
    history_spans,
    history_statement,
    local_day_start,
    tally_count,
    true_count,
)
from urbanpulse.standards.noise import DAY_START_HOUR, NIGHT_START_HOUR

NoisePeriodName = Literal["day", "night"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class NoisePeriod(_Model):
    """GB 3096 exceedances in the latest day (06-22) or night (22-06) period, local time."""

    period: NoisePeriodName
    start: int = Field(description="Period start, epoch ms")
    end: int = Field(
        description="Period end, or the summary's `history_at` while it runs, epoch ms")
    monitors: int = Field(description="Monitors with readings in the period")
    readings: int = Field(description="Readings with a GB 3096 limit in the period")
    exceeding_readings: int = Field(description="Readings whose LAeq exceeded the limit")
    exceeding_monitors: int = Field(description="Monitors with at least one exceeding reading")


class NoiseSummary(_Model):
    """Exceedances of the latest day period and of the latest night period."""

    day: NoisePeriod
    night: NoisePeriod


_DAY_START = DAY_START_HOUR * HOUR_MS
_NIGHT_START = NIGHT_START_HOUR * HOUR_MS
COUNTS = (tally_count(SPEC, "noise_limit_db_count", "readings"),
          true_count("noise_exceeds_limit", "exceeding"))
"""Readings with a limit (the kind's tally) and readings whose LAeq exceeded it."""


@dataclass(frozen=True, slots=True)
class PeriodCount:
    """One period's bounds (end: its end, or the summary time) and per-sensor counts."""

    start: int
    end: int
    readings: Mapping[str, int]
    exceeding: Mapping[str, int]


def latest_periods(at_ms: int) -> dict[NoisePeriodName, tuple[int, int]]:
    """Return [start, end) of the latest day and night periods at `at_ms`, epoch ms."""
    midnight = local_day_start(at_ms)
    since_midnight = at_ms - midnight
    if since_midnight >= _DAY_START:
        day = (midnight + _DAY_START, midnight + _NIGHT_START)
    else:
        day = (midnight - DAY_MS + _DAY_START, midnight - DAY_MS + _NIGHT_START)
    if since_midnight >= _NIGHT_START:
        night = (midnight + _NIGHT_START, midnight + DAY_MS + _DAY_START)
    else:
        night = (midnight - DAY_MS + _NIGHT_START, midnight + _DAY_START)
    return {"day": day, "night": night}


async def period_counts(queries: Queries, kind: str, district: str | None, *, at_ms: int
                        ) -> dict[NoisePeriodName, PeriodCount]:
    """Return per period its bounds and the per-sensor readings and exceeding readings."""
    periods = latest_periods(at_ms)
    last = at_ms - at_ms % MINUTE_MS + MINUTE_MS  # a running period ends with at's minute
    spans = [span for start, end in periods.values()
             for span in history_spans(start, min(end, last), at_ms=at_ms)]
    series = await queries.query(history_statement(kind, district, COUNTS, spans))
    readings: dict[NoisePeriodName, dict[str, int]] = {name: {} for name in periods}
    exceeding: dict[NoisePeriodName, dict[str, int]] = {name: {} for name in periods}
    for one in series:
        sensor = one.tags.get("sensor", "")
        for row in one.rows():  # stamped with its span's start, inside one period
            name = next(name for name, (start, end) in periods.items()
                        if start <= row["time"] < end)
            readings[name][sensor] = readings[name].get(sensor, 0) + int(row["readings"] or 0)
            exceeding[name][sensor] = (exceeding[name].get(sensor, 0)
                                       + int(row["exceeding"] or 0))
    return {name: PeriodCount(start, min(end, at_ms), readings[name], exceeding[name])
            for name, (start, end) in periods.items()}


def summarise(monitors: Sequence[Birth],
                    counts: Mapping[NoisePeriodName, PeriodCount]) -> NoiseSummary:
    """Return the day and night exceedances of `monitors` (other sensors are ignored)."""
    wanted = {sensor.sensor for sensor in monitors}
    periods = {}
    for name, count in counts.items():
        mine = {sensor: n for sensor, n in count.readings.items() if sensor in wanted and n}
        over = {sensor: n for sensor, n in count.exceeding.items() if sensor in wanted and n}
        periods[name] = NoisePeriod(period=name, start=count.start, end=count.end,
                                    monitors=len(mine),
                                    readings=sum(mine.values()),
                                    exceeding_readings=sum(over.values()),
                                    exceeding_monitors=len(over))
    return NoiseSummary(day=periods["day"], night=periods["night"])


async def build(request: SummaryRequest) -> NoiseSummary:
    """Return the noise section from the period counts of the district's monitors."""
    if not request.births:  # no monitor, no history to read
        at_ms = request.history_at
        return summarise([], {name: PeriodCount(start, min(end, at_ms), {}, {})
                              for name, (start, end) in latest_periods(at_ms).items()})
    counts = await period_counts(request.queries, request.kind, request.district,
                                 at_ms=request.history_at)
    return summarise(request.births, counts)


SECTION = Section(NoiseSummary, build)
