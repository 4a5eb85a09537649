"""The ingester's own metrics: one `pipeline` point per interval, beside the data it writes.

Fields: counters since start (received, written, births, batches, rejected and
rejected_{reason}, ignored: QoS 0 and 2 messages, write_requests, write_retries),
gauges (pending messages awaiting acknowledgement, outbox_queued dead letters
and status waiting for the broker's window), and for the interval: readings_per_s and the lag from
device time to InfluxDB's 204, lag_p50_ms and lag_p99_ms. Other parts of the ingester add
counters of their own (`counters`): the notifier's notifications_sent, notifications_inhibited
and notifications_flapping_held (ingest.alerts.notify).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping

from ingest.lag import LagHistogram
from ingest.outbox import Outbox
from ingest.pipeline import Pipeline
from ingest.writer import InfluxWriter
from urbanpulse.lineprotocol import FieldValue, encode_point

MEASUREMENT = "pipeline"
Counters = Callable[[], Mapping[str, int]]
"""Returns counters since start, by field name, of a part of the ingester."""


class SelfMetrics:
    """Builds and writes the `pipeline` measurement of one ingester instance."""

    def __init__(self, pipeline: Pipeline, writer: InfluxWriter, outbox: Outbox, *,
                 instance: str, clock: Callable[[], float] = time.time,
                 counters: Iterable[Counters] = ()) -> None:
        self._pipeline = pipeline
        self._counters = tuple(counters)
        self._writer = writer
        self._outbox = outbox
        self._instance = instance
        self._clock = clock
        self._last_written = 0
        self._last_at = clock()

    def started_point(self) -> str:
        """Return the point an instance writes when it starts (and checks InfluxDB with)."""
        return encode_point(MEASUREMENT, {"instance": self._instance}, {"started": True},
                            int(self._clock() * 1000))

    def point(self) -> str:
        """Return the current point and start a new interval."""
        now = self._clock()
        stats = self._pipeline.stats
        lag, stats.lag = stats.lag, LagHistogram()
        fields: dict[str, FieldValue] = {
            "received": stats.received, "written": stats.written, "births": stats.births,
            "batches": stats.batches, "rejected": stats.rejected.total(),
            "ignored": stats.ignored,
            "write_requests": self._writer.stats.requests,
            "write_retries": self._writer.stats.retries,
            "pending": self._pipeline.pending, "outbox_queued": self._outbox.queued,
            "readings_per_s": round((stats.written - self._last_written)
                                    / max(now - self._last_at, 1e-9), 1),
        }
        for counters in self._counters:
            fields.update(counters())
        for reason, count in sorted(stats.rejected.items()):
            fields[f"rejected_{reason.replace('-', '_')}"] = count
        for name, fraction in (("lag_p50_ms", 0.5), ("lag_p99_ms", 0.99)):
            value = lag.percentile(fraction)
            if value is not None:
                fields[name] = value
        self._last_written, self._last_at = stats.written, now
        return encode_point(MEASUREMENT, {"instance": self._instance}, fields, int(now * 1000))

    async def run(self, interval_s: float) -> None:
        """Write a point every `interval_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            await self._writer.write([self.point()])
