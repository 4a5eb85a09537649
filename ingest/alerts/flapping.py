"""Flap detection: an alert that changes state too often in a window is flagged, then settles.

Nagios judges flapping by the percent of state changes over an object's last
21 checks (recent ones weighted more), flagging above a high threshold and
clearing below a low one. The notifier sees no checks, only changes: a rule
judges every reading, and readings come every minute from an air station and
once a day from a manhole cover, so 21 checks would span 21 minutes for one
and three weeks for the other. A count of changes in a time window means the
same for every kind: an alert with more than `max_changes` changes (it began
to page, or stopped) within `window_ms` is flapping; it settles once it has
not changed for `settle_ms`, and its history starts afresh.
"""

from __future__ import annotations

from collections import deque


class FlapDetector:
    """Counts each alert's state changes in a sliding window and flags the flapping ones."""

    def __init__(self, *, window_ms: int, max_changes: int, settle_ms: int) -> None:
        self._window_ms = window_ms
        self._max_changes = max_changes
        self._settle_ms = settle_ms
        self._changes: dict[str, deque[int]] = {}
        self._flapping: dict[str, int] = {}  # alert id -> its latest change
        self._next_prune = 0

    def changed(self, alert_id: str, now_ms: int) -> bool:
        """Record a change of the alert; return True when it makes the alert flapping."""
        if alert_id in self._flapping:
            self._flapping[alert_id] = now_ms  # a flapping alert settles from its last change
            return False
        times = self._changes.setdefault(alert_id, deque())
        times.append(now_ms)
        while times[0] <= now_ms - self._window_ms:
            times.popleft()
        if len(times) <= self._max_changes:
            return False
        del self._changes[alert_id]
        self._flapping[alert_id] = now_ms
        return True

    def is_flapping(self, alert_id: str) -> bool:
        """Tell whether the alert is flagged flapping."""
        return alert_id in self._flapping

    def settled(self, now_ms: int) -> list[str]:
        """Clear and return the flapping alerts that have not changed for the settle time."""
        done = [alert_id for alert_id, last in self._flapping.items()
                if now_ms - last >= self._settle_ms]
        for alert_id in done:
            del self._flapping[alert_id]
        if now_ms >= self._next_prune:  # forget the alerts with no change left in the window
            self._next_prune = now_ms + self._window_ms
            horizon = now_ms - self._window_ms
            for alert_id in [key for key, times in self._changes.items() if times[-1] <= horizon]:
                del self._changes[alert_id]
        return done
