"""What the ingester keeps beside the raw points: rollups and the latest state of each sensor.

`Keeper` takes every batch InfluxDB wrote (`Pipeline`'s `on_written`), seeds
both from InfluxDB at start, writes the rollup buckets that changed, and
recomputes closed buckets that late readings changed from the raw points
(docs/ingest.md, "Rollups" and "Latest state").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Final

from ingest import IngestError
from ingest.history import History
from ingest.latest import LatestState, row_values
from ingest.now import NowState
from ingest.rollups import HOUR, NO_WATERMARK, RawPoint, Rollups, raw_points, recomputed
from urbanpulse.influxql import Series, quote_identifier, tag_equals, time_from, where
from urbanpulse.kinds import KINDS, SensorKind
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading
from urbanpulse.now import CATCH_UP_S, now_measurement
from urbanpulse.settings import IngestSettings

log = logging.getLogger(__name__)
_RECOMPUTES_PER_PASS: Final = 16  # (kind, district, hour) recomputed per rollup pass
_SEED_DAYS: Final = 1  # the latest state is seeded from the last day (or 3 intervals)


def _seed_span_ms(kind: SensorKind) -> int:
    """Return how far back the latest state of a kind is looked for at start."""
    return max(_SEED_DAYS * 86_400, 3 * kind.interval_s) * 1000


class Keeper:
    """Keeps the rollups and the latest state of the ingester's partition."""

    def __init__(self, settings: IngestSettings, *,
                 intervals: Mapping[str, int] | None = None) -> None:
        self._settings = settings
        self.rollups = Rollups(lateness_ms=int(settings.ingest_rollup_lateness_s * 1000))
        self.latest = LatestState(root=settings.topic_root, key=settings.alert_key_bytes())
        self.now = NowState(intervals)
        self._snapshot_to: Callable[[str], None] | None = None
        """Where the snapshots go, once `snapshots` runs."""
        self.history = History(url=settings.influx_url, database=settings.influx_db,
                                headers=settings.influx_auth_headers(),
                                timeout_s=settings.influx_timeout_s,
                                retry_max_s=settings.ingest_retry_max_s)
        """Read-only InfluxQL on the ingester's database: what start-up rebuilds from."""
        districts = settings.ingest_districts
        self._partition = "(" + " OR ".join(tag_equals("district", name)
                                            for name in districts) + ")" if districts else ""

    def written(self, readings: list[Reading | None],
                derived: list[Mapping[str, FieldValue] | None]) -> None:
        """Take the readings of a batch InfluxDB wrote (None: not a reading, or refused)."""
        self.rollups.written(readings, derived, int(time.time() * 1000))
        self.latest.written(readings, derived)
        self.now.written(readings, derived)
        if self._snapshot_to is not None and self.now.ahead(CATCH_UP_S * 1000,
                                                            int(time.time() * 1000)):
            self._snapshot(self._snapshot_to)

    def states(self) -> list[tuple[str, bytes]]:
        """Return (topic, payload) of the state of each district that changed since last time."""
        return self.latest.messages(int(time.time() * 1000))

    async def seed(self) -> None:
        """Seed the latest state, then reseed the open rollup buckets, from raw points.

        First, per kind, the newest point of each sensor of the partition (within
        a day, or three intervals of a kind that reports more rarely): the latest
        state, and the newest of them the rollups' watermark; and the running totals
        of rises of the last "now" snapshot. Then every point since the hour before
        the open one. Readings redelivered after a crash
        are then recognised as duplicates; readings acknowledged before it are in
        the rollups again.
        """
        now_ms = int(time.time() * 1000)
        kinds = list(KINDS.values())
        newest = NO_WATERMARK

        def seed(index: int, series: Series) -> None:
            nonlocal newest
            kind = kinds[index]
            district, sensor = series.tags["district"], series.tags["sensor"]
            for row in series.rows():
                self.latest.seed(kind, district, sensor, row)
                self.now.seed(kind.name, district, sensor, int(row["time"]), row_values(kind, row))
                newest = max(newest, min(int(row["time"]), now_ms))

        await self.history.read([
            f"SELECT * FROM {quote_identifier(kind.name)}"
            f"{where(time_from(now_ms - _seed_span_ms(kind)), self._partition)}"
            ' GROUP BY "district", "sensor" ORDER BY time DESC LIMIT 1' for kind in kinds], seed)
        await self._seed_rises(now_ms)
        rollups = self.rollups
        rollups.watermark = newest
        since = rollups.reseed_from()
        if since is None:
            log.info("seeded the latest state of %d districts; no raw points to reseed the "
                     "rollups from", len(self.latest.changed))
            return

        def reseed(index: int, series: Series) -> None:
            rollup = rollups.kinds[kinds[index].name]
            for district, sensor, ts, values in raw_points(rollup.fields, series.columns,
                                                           series.values):
                rollup.take_row(rollup.row(district, sensor), ts, values)
            rollups.fold(NO_WATERMARK, raw=True)

        await self.history.read([f"SELECT * FROM {quote_identifier(kind.name)}"
                                  f"{where(time_from(since), self._partition)}"
                                  for kind in kinds], reseed)
        log.info("seeded the latest state of %d districts and the rollups since %s from "
                 "InfluxDB", len(self.latest.changed),
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(since / 1000)))

    async def _seed_rises(self, now_ms: int) -> None:
        """Seed the snapshot's running totals of rises with the last ones it wrote."""
        rising = [(kind, kind.cumulative) for kind in KINDS.values() if kind.cumulative]

        def seed(index: int, series: Series) -> None:
            kind, fields = rising[index]
            for row in series.rows():
                self.now.seed_rises(kind.name, series.tags["district"], {
                    name: float(row[name]) for name in fields if row.get(name) is not None})

        if rising:
            await self.history.read([
                "SELECT " + ", ".join(f"last({quote_identifier(f'{name}_rise')}) AS "
                                      f"{quote_identifier(name)}" for name in fields)
                + f" FROM {quote_identifier(now_measurement(kind.name))}"
                f"{where(time_from(now_ms - _seed_span_ms(kind)), self._partition)}"
                ' GROUP BY "district"' for kind, fields in rising], seed)

    async def recompute(self) -> list[str]:
        """Return closed buckets that late readings changed, recomputed from the raw points."""
        pending = self.rollups.settled(_RECOMPUTES_PER_PASS)
        if not pending:
            return []
        points: list[list[RawPoint]] = [[] for _ in pending]
        statements = [f"SELECT * FROM {quote_identifier(kind)}"
                      f"{where(tag_equals('district', district), time_from(hour))}"
                      f" AND time < {hour + HOUR}ms" for kind, district, hour in pending]

        def collect(index: int, series: Series) -> None:
            fields = self.rollups.kinds[pending[index][0]].fields
            points[index] += [(sensor, ts, values) for _, sensor, ts, values
                              in raw_points(fields, series.columns, series.values)]

        await self.history.read(statements, collect)
        floors = self.rollups.floors()
        return [line for (kind, district, hour), found in zip(pending, points, strict=True)
                for line in recomputed(KINDS[kind], district, hour, found, floors)]

    async def snapshots(self, write: Callable[[str], None]) -> None:
        """Hand the "now" snapshot's points to `write` every now interval, for ever; from
        then on `written` also hands them over whenever the readings' time has moved
        `CATCH_UP_S` since the last snapshot (history arriving faster than it happened)."""
        self._snapshot_to = write
        while True:
            await asyncio.sleep(self._settings.ingest_now_interval_s)
            self._snapshot(write)

    def _snapshot(self, write: Callable[[str], None]) -> None:
        for line in self.now.points(int(time.time() * 1000)):
            write(line)

    async def roll(self, write: Callable[[str], None]) -> None:
        """Hand changed rollup points to `write` for ever: minutes every rollup interval,
        hours every hour interval, then what late readings changed."""
        settings = self._settings
        hours_due = time.monotonic() + settings.ingest_rollup_hour_interval_s
        while True:
            await asyncio.sleep(settings.ingest_rollup_interval_s)
            hours = time.monotonic() >= hours_due
            if hours:
                hours_due = time.monotonic() + settings.ingest_rollup_hour_interval_s
            for line in self.rollups.lines(hours=hours):
                write(line)
            try:
                lines = await self.recompute()
            except IngestError as exc:  # InfluxDB refused the query: the buckets stay as written
                log.error("recomputing rollups from raw points failed: %s", exc)
                continue
            for line in lines:
                write(line)
