"""`SummaryHistory`: the history a district summary of the present reads, kept per district.

Three sections of a summary read history rather than the present: energy (each
building's register at the day's start, and on the same weekdays before), noise
(each monitor's readings over its limit in the latest day and night periods)
and pressure (each network end's readings of the last 24 hours). Each is a
statement over every sensor of its kind in the district, a tenth of a second or
more of InfluxDB at city scale (docs/performance.md), while a summary of the
present is made again whenever its district changes (a district state every 5 s).

So the api keeps the answers of a district's history statements with the time
they were read to (`KeptReads`): read when a summary of the district is first
asked for, and again every `RENEW_S` in the background
(`api.district_summary.renew_summaries`, whose first reading, at start, is of
every district). A summary of the present is made from
memory alone: births, current readings and alerts as always, and the history
as of the kept time, which it tells as `history_at`. A district not asked for in
`FORGET_S` is no longer read again and its answers are dropped; answers older
than `STALE_MS` (InfluxDB away, renewals failing) are not served, and the
summary reads its history afresh, waiting for it, as it does the first time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from urbanpulse.influxql import Series

RENEW_S: Final = 60.0
"""Seconds between readings of a district's history: the statements count whole minutes."""
FORGET_S: Final = 900.0
"""Seconds after its last summary that a district's history is no longer read again."""
STALE_MS: Final = 180_000
"""Oldest kept history a summary is made from, ms behind its time (three renewals)."""


@dataclass(slots=True)
class KeptReads:
    """A district's history statements answered, read to `at_ms` (the sections' `history_at`)."""

    at_ms: int
    answers: dict[str, list[Series]] = field(default_factory=dict)


class SummaryHistory:
    """The kept history of each district a summary was asked for lately."""

    def __init__(self) -> None:
        self._kept: dict[str, KeptReads] = {}
        self._asked: dict[str, float] = {}  # district: monotonic time of its last summary

    def ask(self, district: str) -> None:
        """Count `district` as asked for now: its history is read again for `FORGET_S`."""
        self._asked[district] = time.monotonic()

    def reads(self, district: str, at_ms: int) -> KeptReads:
        """Return the history to make a summary of `district` at `at_ms` from.

        That is the kept one, unless there is none or it is over `STALE_MS` old; then
        a new, empty one read to `at_ms`, kept, which the summary fills as it asks.
        """
        self.ask(district)
        kept = self._kept.get(district)
        if kept is None or at_ms - kept.at_ms > STALE_MS:
            kept = self._kept[district] = KeptReads(at_ms)
        return kept

    def kept_at(self, district: str) -> int | None:
        """Return the time the kept history of `district` was read to (None: none kept)."""
        kept = self._kept.get(district)
        return None if kept is None else kept.at_ms

    def due(self, *, forget_s: float = FORGET_S) -> Iterator[str]:
        """Yield the districts asked for within `forget_s`; forget the others' history."""
        now = time.monotonic()
        for district, asked in list(self._asked.items()):
            if now - asked > forget_s:
                del self._asked[district]
                self._kept.pop(district, None)
            else:
                yield district

    def keep(self, district: str, reads: KeptReads) -> None:
        """Keep `reads`, a complete reading of `district`'s history, unless it was forgotten."""
        if district in self._asked:
            self._kept[district] = reads
