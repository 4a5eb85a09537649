"""End-to-end lag of written readings: InfluxDB's 204 minus the reading's device time.

A histogram with 1 ms buckets up to one minute (and one bucket beyond) costs one
list increment per reading and gives exact percentiles at that resolution.
"""

from __future__ import annotations

from collections.abc import Iterable

_BUCKETS = 60_000


class LagHistogram:
    """Counts lags in whole milliseconds; lags of a minute or more share the last bucket."""

    def __init__(self) -> None:
        self._counts = [0] * (_BUCKETS + 1)
        self.count = 0

    def add(self, now_ms: int, stamps: Iterable[int]) -> None:
        """Count `now_ms - ts` for each device timestamp (negative lags count as 0)."""
        counts = self._counts
        added = 0
        for ts in stamps:
            lag = now_ms - ts
            counts[0 if lag < 0 else lag if lag < _BUCKETS else _BUCKETS] += 1
            added += 1
        self.count += added

    def percentile(self, fraction: float) -> float | None:
        """Return the lag (ms) below which `fraction` of readings fall, or None when empty."""
        if not self.count:
            return None
        wanted = fraction * self.count
        seen = 0
        for lag, count in enumerate(self._counts):
            seen += count
            if seen >= wanted:
                return float(lag)
        return float(_BUCKETS)  # pragma: no cover

    def reset(self) -> None:
        """Forget every count."""
        self._counts = [0] * (_BUCKETS + 1)
        self.count = 0
