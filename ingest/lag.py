"""End-to-end lag of written readings: InfluxDB's 204 minus the reading's device time.

A histogram with 1 ms buckets up to one minute (and one bucket beyond) gives
exact percentiles at that resolution. Beside it, one counter per second of lag
lets a percentile skip to the right second instead of walking 60,000 buckets:
the self-metrics read two percentiles every interval, and a backlog of old
readings puts every lag in the last bucket.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

_BUCKETS: Final = 60_000
_PER_SECOND: Final = 1000


class LagHistogram:
    """Counts lags in whole milliseconds; lags of a minute or more share the last bucket."""

    def __init__(self) -> None:
        self._counts = [0] * (_BUCKETS + 1)
        self._seconds = [0] * (_BUCKETS // _PER_SECOND + 1)
        self.count = 0

    def add(self, now_ms: int, stamps: Iterable[int]) -> None:
        """Count `now_ms - ts` for each device timestamp (negative lags count as 0)."""
        counts, seconds = self._counts, self._seconds
        added = 0
        for ts in stamps:
            lag = now_ms - ts
            bucket = 0 if lag < 0 else lag if lag < _BUCKETS else _BUCKETS
            counts[bucket] += 1
            seconds[bucket // _PER_SECOND] += 1
            added += 1
        self.count += added

    def percentile(self, fraction: float) -> float | None:
        """Return the lag (ms) below which `fraction` of readings fall, or None when empty."""
        if not self.count:
            return None
        wanted = fraction * self.count
        seen = 0
        for second, count in enumerate(self._seconds):
            if seen + count >= wanted:
                first = second * _PER_SECOND
                for lag in range(first, min(first + _PER_SECOND, _BUCKETS + 1)):
                    seen += self._counts[lag]
                    if seen >= wanted:
                        return float(lag)
            seen += count
        return float(_BUCKETS)  # pragma: no cover

    def reset(self) -> None:
        """Forget every count."""
        self._counts = [0] * (_BUCKETS + 1)
        self._seconds = [0] * (_BUCKETS // _PER_SECOND + 1)
        self.count = 0
