"""The alerts dashboard's two tables, written as measurements whose series do not grow with
the alert history: the change log (`alerts_log`) and the open alerts (`alerts_open`).

In `alerts` every alert and state is a series of its own, so a table of the newest
changes, or of the alerts open now, made InfluxDB walk every alert the city ever
raised (at 22,150 sensors and a day of alerts 10,381 series: 0.1 s for the newest
thousand changes, 0.16 s for the open ones over 31 days), however few rows it showed.

- The change log: every change the ingester emits, as a point of its district
  whose `slot` is the change's place among the district's changes of that
  millisecond (`000` for the first). A district's log is as many series as it
  ever had changes in one millisecond: a few, more once a sweep found many of
  its sensors silent at once. (A ring of 256 series per district, taken in
  turn, made the table of the newest thousand read every one of them: 56.5
  against 9.9 ms for a day at scale 50, docs/performance.md.) A point is keyed
  by its series and time, so the places taken must outlive a restart: an
  ingester starts from those of the log's last `SEEDED_MS` before its newest
  change (`ChangeLog.seed`), and a change of a millisecond written before the
  restart takes the next place. The log keeps every change but: past
  `LOG_SLOTS` changes of one district in one millisecond it keeps the last
  `LOG_SLOTS` (`alerts` has all); and a change over `REMEMBERED_MS` older than
  the newest change, or, after a restart, one of a millisecond written over
  `SEEDED_MS` before the log's newest change, may take a place another change
  holds. A change emitted again after a crash (a redelivered reading judged
  again) is listed twice and counted once (`ingest.alerts.changes`).
- The open alerts: with every metrics interval's `alerts_active` counts, a
  point per rank of each district and kind, the alerts open now in the order
  an operator works them (most severe first, then the longest open), at most
  `OPEN_RANKS` per district and kind. A rank is written when another alert or a
  new state holds it, once empty when its alert is gone, and every rank again
  every `OPEN_REFRESH_MS`, so a panel reading the newest point of each rank over the
  last 10 minutes finds them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ingest.alerts.changes import Read
from ingest.points import alert_fields
from urbanpulse.alert_views import LOG, LOG_SLOTS, OPEN, OPEN_RANKS, OPEN_REFRESH_MS
from urbanpulse.influxql import Series, quote_identifier, time_from
from urbanpulse.lineprotocol import FieldValue, encode_point
from urbanpulse.messages import Alert

SEVERITIES: Final = ("info", "low", "medium", "high", "critical")
EMPTY: Final[dict[str, FieldValue]] = {"alert_id": ""}
"""The fields of a rank no alert holds."""
REMEMBERED_MS: Final = 86_400_000
"""How far behind the newest change the log remembers which places are taken."""
SEEDED_MS: Final = 3_600_000
"""How far behind the log's newest change a starting ingester reads the places taken."""


def _described(alert: Alert) -> dict[str, FieldValue]:
    """Return the fields a table row of an alert change shows: its tags in `alerts` too."""
    return {"alert_id": alert.alert_id, "state": alert.state, "severity": alert.severity,
            "rule": alert.rule, "sensor": alert.sensor, "kind": alert.kind,
            **alert_fields(alert)}


class ChangeLog:
    """Writes each alert change at its place among its district's changes of that
    millisecond."""

    def __init__(self) -> None:
        self._taken: dict[str, dict[int, int]] = {}
        """Per district, how many changes each recent millisecond has logged."""
        self._forget_at = 0

    def point(self, alert: Alert) -> str:
        """Return the `alerts_log` point of one change."""
        taken = self._taken.setdefault(alert.district, {})
        place = taken.get(alert.ts, 0)
        taken[alert.ts] = place + 1
        if alert.ts >= self._forget_at:  # at most once an hour of alert time
            self._forget(alert.ts - REMEMBERED_MS)
            self._forget_at = alert.ts + 3_600_000
        return encode_point(LOG, {"district": alert.district, "slot": f"{place % LOG_SLOTS:03}"},
                            _described(alert), alert.ts)

    async def seed(self, read: Read) -> None:
        """Learn the places taken in the log's last `SEEDED_MS` before its newest change."""
        source = quote_identifier(LOG)
        newest: list[int] = []
        await read([f'SELECT last("alert_id") FROM {source}'],
                   lambda _, one: newest.extend(int(row[0]) for row in one.values))
        if not newest:
            return
        found: list[Series] = []
        await read([f'SELECT "alert_id" FROM {source} WHERE {time_from(newest[0] - SEEDED_MS)} '
                    'GROUP BY "district", "slot"'], lambda _, one: found.append(one))
        for one in found:  # places are taken in order: a millisecond's highest says how many
            taken = self._taken.setdefault(one.tags["district"], {})
            place = int(one.tags["slot"]) + 1
            for ts in (int(row[0]) for row in one.values):
                taken[ts] = max(taken.get(ts, 0), place)

    def _forget(self, before: int) -> None:
        for district, taken in self._taken.items():
            self._taken[district] = {ts: n for ts, n in taken.items() if ts >= before}


def _order(alert: Alert) -> tuple[int, int, str]:
    """The order an operator works open alerts in: most severe, then longest open, first."""
    return -SEVERITIES.index(alert.severity), alert.since, alert.alert_id


class OpenList:
    """Writes the open alerts of each district and kind as ranks, where they changed."""

    def __init__(self) -> None:
        self._written: dict[tuple[str, str, int], dict[str, FieldValue]] = {}
        self._refreshed_ms = 0

    def points(self, alerts: Iterable[Alert], at_ms: int) -> list[str]:
        """Return the `alerts_open` points at `at_ms` of the ranks that changed (all of
        them when a refresh is due) and of those no alert holds any more."""
        ranked: dict[tuple[str, str], list[Alert]] = {}
        for alert in alerts:
            ranked.setdefault((alert.district, alert.kind), []).append(alert)
        now: dict[tuple[str, str, int], dict[str, FieldValue]] = {}
        for (district, kind), held in ranked.items():
            for rank, alert in enumerate(sorted(held, key=_order)[:OPEN_RANKS]):
                fields = _described(alert)
                del fields["kind"]  # a tag here
                now[district, kind, rank] = fields
        refresh = at_ms - self._refreshed_ms >= OPEN_REFRESH_MS
        if refresh:
            self._refreshed_ms = at_ms
        points = [self._point(where, fields, at_ms) for where, fields in now.items()
                  if refresh or self._written.get(where) != fields]
        points += [self._point(where, EMPTY, at_ms) for where in self._written
                   if where not in now]
        self._written = now
        return points

    @staticmethod
    def _point(where: tuple[str, str, int], fields: dict[str, FieldValue], at_ms: int) -> str:
        district, kind, rank = where
        return encode_point(OPEN, {"district": district, "kind": kind,
                                               "rank": f"{rank:03}"}, fields, at_ms)
