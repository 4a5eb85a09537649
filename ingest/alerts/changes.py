"""Alert state changes counted per minute: `alerts_district_1m`.

The alerts dashboard's charts of changes over time (state changes by state, the
firing episodes of a range) count these points, a series per district, kind,
severity and state, instead of the raw `alerts` points, a series per alert and
state: their cost followed the alert history, not what they show (at 22,150
sensors and a day of alerts, 0.13 s of the dashboard's 0.48 s went on one chart).

A minute counts each change once. It holds the identity of every change it
counted, the alert id and time that key the change's raw point, so a change
written again (a broker's redelivery after a crash, the same reading judged
again) is not counted twice. A minute is taken up from the raw points InfluxDB
holds of it, on its first change since the ingester started or since it was
let go, joined with the changes that came meanwhile: so a restart goes on from
what was written before it, not from zero. Every change that adds to a
minute rewrites the minute's count for its combination, in the ordinary
batches. Minutes over `HELD_MS` older than the newest one are let go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Final

from ingest.history import OnSeries
from ingest.points import ALERTS_MEASUREMENT
from urbanpulse.alert_views import CHANGES
from urbanpulse.influxql import Series, quote_identifier
from urbanpulse.lineprotocol import encode_point
from urbanpulse.messages import Alert

MINUTE_MS: Final = 60_000
HELD_MS: Final = 2 * 3_600_000
"""How far behind the newest minute a minute's identities are held."""
TAKE_UP_EVERY_S: Final = 1.0
TAKE_UP_MINUTES: Final = 60
"""The most minutes one request reads back."""
TAGS: Final = ("district", "kind", "severity", "state")

Combination = tuple[str, str, str, str]
"""A count's district, kind, severity and state."""
Identity = tuple[str, int]
"""A change's alert id and time: the key of its raw point with the combination."""
Minute = dict[Combination, set[Identity]]
Read = Callable[[Sequence[str], OnSeries], Awaitable[None]]


def minute_of(ts_ms: int) -> int:
    """Return the start of the minute `ts_ms` falls in."""
    return ts_ms - ts_ms % MINUTE_MS


def combination(alert: Alert) -> Combination:
    """Return the combination an alert change is counted under."""
    return alert.district, alert.kind, alert.severity, alert.state


def count_point(minute_ms: int, of: Combination, changes: int) -> str:
    """Return the `alerts_district_1m` point of a minute's changes of one combination."""
    return encode_point(CHANGES, dict(zip(TAGS, of, strict=True)), {"changes": changes},
                        minute_ms)


def raw_statement(minute_ms: int) -> str:
    """Return the statement that reads back the raw changes of one minute."""
    return (f'SELECT "since" FROM {quote_identifier(ALERTS_MEASUREMENT)} '
            f"WHERE time >= {minute_ms}ms AND time < {minute_ms + MINUTE_MS}ms "
            f"GROUP BY {', '.join(quote_identifier(tag) for tag in ('alert_id', *TAGS))}")


class AlertChanges:
    """Counts the alert changes of one ingester's districts per minute and combination."""

    def __init__(self, districts: Collection[str] = ()) -> None:
        self._districts = frozenset(districts)
        self._held: dict[int, Minute] = {}
        self._waiting: dict[int, Minute] = {}
        self._newest = 0

    @property
    def waiting(self) -> int:
        """Minutes whose changes wait for their raw points to be read back."""
        return len(self._waiting)

    def add(self, alert: Alert) -> str | None:
        """Count an alert change; return its minute's new count point, if it is known now.

        A minute not held yet keeps the change until `take_up` has read the minute back.
        """
        minute = minute_of(alert.ts)
        identity = alert.alert_id, alert.ts
        held = self._held.get(minute)
        if held is None:
            self._waiting.setdefault(minute, {}).setdefault(combination(alert), set()).add(
                identity)
            return None
        counted = held.setdefault(combination(alert), set())
        if identity in counted:
            return None
        counted.add(identity)
        return count_point(minute, combination(alert), len(counted))

    def take_up(self, minutes: dict[int, list[Series]]) -> list[str]:
        """Hold minutes read back (their raw series), joined with the changes that waited;
        return every count point of those minutes, and let go of minutes long past."""
        points = []
        for minute, series in sorted(minutes.items()):
            held = self._held.setdefault(minute, {})
            for one in series:
                district, kind, severity, state = (one.tags.get(tag, "") for tag in TAGS)
                if self._districts and district not in self._districts:
                    continue  # another ingester's district: its own count
                alert_id = one.tags.get("alert_id", "")
                held.setdefault((district, kind, severity, state), set()).update(
                    (alert_id, int(row[0])) for row in one.values)
            for of, identities in self._waiting.pop(minute, {}).items():
                held.setdefault(of, set()).update(identities)
            points += [count_point(minute, of, len(identities))
                       for of, identities in sorted(held.items())]
            self._newest = max(self._newest, minute)
        for minute in [minute for minute in self._held if minute < self._newest - HELD_MS]:
            del self._held[minute]
        return points

    async def read_back(self, read: Read) -> list[str]:
        """Read back up to `TAKE_UP_MINUTES` of the minutes that wait and take them up."""
        minutes = sorted(self._waiting)[:TAKE_UP_MINUTES]
        found: dict[int, list[Series]] = {minute: [] for minute in minutes}
        if minutes:
            await read([raw_statement(minute) for minute in minutes],
                       lambda statement, one: found[minutes[statement]].append(one))
        return self.take_up(found)

    async def run(self, read: Read, add_point: Callable[[str], None]) -> None:
        """Read back the minutes that wait, every `TAKE_UP_EVERY_S`, until cancelled."""
        while True:
            await asyncio.sleep(TAKE_UP_EVERY_S)
            for line in await self.read_back(read):
                add_point(line)
