"""The ingester's own metrics: one `pipeline` point per interval, beside the data it writes.

Fields: counters since start (received, written, births, batches, rejected and
rejected_{reason}, ignored: QoS 0 and 2 messages, write_requests, write_retries),
gauges (pending messages awaiting acknowledgement, outbox_queued dead letters
and status waiting for the broker's window), and for the interval: readings_per_s and the lag from
device time to InfluxDB's 204, lag_p50_ms and lag_p99_ms. Other parts of the ingester add
counters of their own (`counters`): the notifier's notifications_sent, notifications_inhibited
and notifications_flapping_held (ingest.alerts.notify).

Beside it, every interval, the active alerts (the alert engine's and the
incidents' overrun alerts) counted in `alerts_active`: a point per district,
kind and severity with the alerts `pending`, `firing`, `acknowledged` and
`active` (their sum) now. The panels of alerts active "now" read its last
points instead of every alert's latest state change over 31 days, whose cost
grew with the alert history, not with what they show. A combination counted
once gets its points (zeros included) for as long as the instance runs, so its
last point is never a count that has gone. The same alerts listed by rank for
the alerts dashboard's table (`alerts_open`, `ingest.alerts.lists`). And the
sensors announced, by district and kind, with their mean position
(`ingest.census`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from ingest.alerts.lists import OpenList
from ingest.lag import LagHistogram
from ingest.outbox import Outbox
from ingest.pipeline import Pipeline
from ingest.writer import InfluxWriter
from urbanpulse.lineprotocol import FieldValue, encode_point
from urbanpulse.messages import Alert

MEASUREMENT = "pipeline"
ACTIVE_MEASUREMENT = "alerts_active"
ACTIVE_STATES = ("pending", "firing", "acknowledged")
Counters = Callable[[], Mapping[str, int]]
"""Returns counters since start, by field name, of a part of the ingester."""
Combination = tuple[str, str, str]
"""An active-alert count's district, kind and severity."""


def active_points(alerts: Iterable[Alert], counted: set[Combination], at_ms: int) -> list[str]:
    """Return the `alerts_active` points of `alerts` at `at_ms`, adding to `counted`.

    Every combination in `counted` gets a point, with zeros when none is active now.
    """
    counts: Counter[tuple[str, str, str, str]] = Counter(
        (alert.district, alert.kind, alert.severity, alert.state) for alert in alerts)
    counted.update((district, kind, severity) for district, kind, severity, _ in counts)
    points = []
    for district, kind, severity in sorted(counted):
        by_state = {state: counts[district, kind, severity, state] for state in ACTIVE_STATES}
        fields: dict[str, FieldValue] = {**by_state, "active": sum(by_state.values())}
        points.append(encode_point(ACTIVE_MEASUREMENT, {
            "district": district, "kind": kind, "severity": severity}, fields, at_ms))
    return points


class SelfMetrics:
    """Builds and writes the `pipeline` measurement of one ingester instance."""

    def __init__(self, pipeline: Pipeline, writer: InfluxWriter, outbox: Outbox, *,
                 instance: str, clock: Callable[[], float] = time.time,
                 counters: Iterable[Counters] = (),
                 active: Callable[[], Iterable[Alert]] = tuple) -> None:
        self._pipeline = pipeline
        self._counters = tuple(counters)
        self._writer = writer
        self._outbox = outbox
        self._instance = instance
        self._clock = clock
        self._last_written = 0
        self._last_at = clock()
        self._active = active
        self._counted: set[Combination] = set()
        self._open = OpenList()

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

    def points(self) -> list[str]:
        """Return the current `pipeline` point (starting a new interval), the
        `alerts_active` points of the alerts active now, the `alerts_open` ranks that
        changed (`ingest.alerts.lists`) and the `sensors_announced` points."""
        at_ms = int(self._clock() * 1000)
        active = list(self._active())
        return [self.point(), *active_points(active, self._counted, at_ms),
                *self._open.points(active, at_ms), *self._pipeline.census.points(at_ms)]

    async def run(self, interval_s: float) -> None:
        """Write the points every `interval_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            await self._writer.write(self.points())
