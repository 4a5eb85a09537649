"""`ExportWarmer`: renders the last day's settled hours of every kind ahead of the exports.

A day's export is a join of kept pieces (`api.open_data`) once its settled
hours have been rendered; the first export of a day would render them all,
which at city scale takes longer than the export should. The warmer renders
them in the background instead: the CSV and JSON pieces of every kind's settled
hours of the last `WARM_SPAN_MS`, both from one read of each hour (so the event
loop is held for one hour's rows at a time, not a day's), on start and every
`WARM_EVERY_S` after. The JSON pieces, about three times the CSV's size, are
kept only where the budget has room beside the others; once one did not fit,
the passes keep the CSV alone and leave the JSON to be rendered when asked for
(rather than read every hour again each pass for a piece that cannot be kept),
and `describe` says so. A pass that
finds the pieces still kept only reads the districts' hourly rollups (one small
statement per kind).
"""

from __future__ import annotations

import asyncio
import logging
import time

from api.errors import ApiError
from api.influx import InfluxQuery
from api.open_data import HourPieces, export_sensors, pieces, settled_before
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.summaries import HOUR_MS

log = logging.getLogger(__name__)

WARM_EVERY_S = 300.0
"""Seconds between passes: the ingester rewrites an open hour every 300 s by default."""
WARM_SPAN_MS = 25 * HOUR_MS
"""What a pass renders: the settled hours of the default export range (the last 24 h, widened)."""


class ExportWarmer:
    """Keeps the pieces of the last day's settled hours rendered; `describe` says how far."""

    def __init__(self, influx: InfluxQuery, kept: HourPieces, *,
                 every_s: float = WARM_EVERY_S) -> None:
        self._influx = influx
        self._kept = kept
        self._every_s = every_s
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        self.last_pass_s: float | None = None
        self.json_fits = True
        """Whether the JSON pieces fit in the budget beside the CSV (until one did not)."""

    def start(self) -> None:
        """Start the passes in the background."""
        self._task = asyncio.create_task(self._run(), name="export-warmer")

    async def stop(self) -> None:
        """Stop the passes, waiting for the one running to give up."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def describe(self) -> str:
        """Say what is kept and when the last pass ended, as a sentence."""
        kept = (f"Export pieces of settled hours kept: {len(self._kept)} "
                f"({self._kept.size / 1e6:.1f} of {self._kept.budget / 1e6:.0f} MB)")
        if not self.json_fits:
            kept += (" (the JSON pieces of the last day do not fit: only its CSV is kept; "
                     "raise URBANPULSE_API_EXPORT_CACHE_MB)")
        if self.last_pass_s is None:
            return f"{kept}; the first pass over the last day is running."
        return f"{kept}; passes over the last day: {self.passes}, the last took " \
               f"{self.last_pass_s:.1f} s."

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await self.warm(int(time.time() * 1000))
            self.passes += 1
            self.last_pass_s = time.perf_counter() - started
            log.info("export warmer: %s", self.describe())
            await asyncio.sleep(self._every_s)

    async def warm(self, now_ms: int) -> None:
        """Render the pieces of every kind's settled hours of the last day not kept yet."""
        end = settled_before(now_ms)
        refused = self._kept.refused
        for kind in KINDS.values():
            try:
                sensors = len(await export_sensors(self._influx, kind, None))
                async for _ in pieces(self._influx, self._kept, kind, "csv", district=None,
                                      sensors=sensors, start_ms=end - WARM_SPAN_MS,
                                      end_ms=end, now_ms=now_ms, max_hours=1,
                                      also="json" if self.json_fits else None):
                    pass
            except ApiError as error:  # InfluxDB away: the next pass tries again
                log.warning("export warmer: the pieces of %s were not rendered: %s",
                            kind.name, error)
        self.json_fits = self.json_fits and self._kept.refused == refused
