"""What changed lately, each in its newest state, newest change first: lists from memory.

`/v1/alerts` and `/v1/incidents` list the alerts (incidents) that changed in a
range, each in its newest state there. Asked of InfluxDB, that is a scan of
every alert that changed in the range, however short the page: at 22,150
sensors a page of 100 alerts took 353 ms where the 443-sensor city took 26 ms.
Up to now, the newest state of each is the newest state of all, so a range
that ends now is answered from the newest states held in memory, kept in the
order of their changes: a page is a slice found by bisection, and its cost is
its length.

`Recent` holds every state newer than its horizon (`since_ms`): from the seed
read from InfluxDB on, fed by MQTT. What changed last before the horizon drops
out as the horizon moves with the clock (`keep_ms`); a range that starts before
it is left to InfluxDB.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar


class Change(Protocol):
    """What `Recent` holds: a state with its time and district."""

    @property
    def ts(self) -> int: ...

    @property
    def district(self) -> str: ...


T = TypeVar("T", bound=Change)


class Recent(Generic[T]):
    """The newest state of every item that changed since `since_ms`, by district too.

    `ident` names an item (an alert id, an incident id); a state replaces the one
    held of its item unless that one is newer. `since_ms` is None until `seeded`.
    """

    def __init__(self, ident: Callable[[T], str], *, keep_ms: int) -> None:
        self._ident = ident
        self.keep_ms = keep_ms
        self._held: dict[str, T] = {}
        self._order: dict[str | None, list[T]] = {None: []}
        """The held states of each district (None: all), newest change first."""
        self.since_ms: int | None = None

    def _newest_first(self, item: T) -> tuple[int, str]:
        return -item.ts, self._ident(item)

    def add(self, item: T) -> None:
        """Hold `item` unless a newer state of it is held, or it is older than the horizon."""
        if self.since_ms is not None and item.ts < self.since_ms:
            return
        name = self._ident(item)
        held = self._held.get(name)
        if held is not None:
            if item.ts < held.ts:
                return
            self._unlist(held)
        self._held[name] = item
        for district in (None, item.district):
            insort(self._order.setdefault(district, []), item, key=self._newest_first)

    def _unlist(self, item: T) -> None:
        at = self._newest_first(item)
        for district in (None, item.district):
            listed = self._order[district]
            del listed[bisect_left(listed, at, key=self._newest_first)]

    def get(self, name: str) -> T | None:
        """Return the held state of item `name`, or None."""
        return self._held.get(name)

    def seeded(self, since_ms: int) -> None:
        """Record that every state since `since_ms` is held: the seed read them all."""
        self._forget_before(since_ms)
        self.since_ms = since_ms

    def covers(self, start_ms: int, *, now_ms: int) -> bool:
        """Return whether every state changed in [start_ms, now] is held (moving the horizon)."""
        if self.since_ms is None:
            return False
        if now_ms - self.keep_ms > self.since_ms:
            self.since_ms = now_ms - self.keep_ms
            self._forget_before(self.since_ms)
        return start_ms >= self.since_ms

    def between(self, start_ms: int, end_ms: int, *, district: str | None) -> Sequence[T]:
        """Return the held states of `district` (None: all) changed in [start, end), newest
        first: a slice found by bisection."""
        listed = self._order.get(district, [])
        return listed[bisect_left(listed, (1 - end_ms, ""), key=self._newest_first):
                      bisect_left(listed, (1 - start_ms, ""), key=self._newest_first)]

    def _forget_before(self, cutoff_ms: int) -> None:
        """Drop the states changed before `cutoff_ms`: the oldest of all are the oldest of
        their districts, so each leaves the tail of both lists."""
        every = self._order[None]
        while every and every[-1].ts < cutoff_ms:
            item = every.pop()
            self._order[item.district].pop()
            del self._held[self._ident(item)]

    def __len__(self) -> int:
        return len(self._held)
