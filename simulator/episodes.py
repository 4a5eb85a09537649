"""Episodes: injected device faults and scenario incidents, with their ground truth.

An episode (`urbanpulse.kinds.incidents.Episode`) is one type of trouble on
one sensor from `start` to `end` (None: for good). Each kind's `Injector`
keeps its pending and active episodes, tells the fleet which started (each is
announced once as a `Truth` message on `city/truth/...`), changes the values of
the affected sensors (incidents first, as the world changes, then device
faults) and says how each affected reading is delivered (dropped, late, twice,
skewed or malformed). The clean signal of an affected sensor (what it would
have reported without measurement error and device faults) takes the
incidents' changes alone (`apply_incidents`). A sensor mounted on a carrier that loses power is
silenced by a `carrier-outage` episode of its own.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from urbanpulse.kinds.incidents import CARRIER_OUTAGE, Episode, KnobEffect, ValueEffect, Values
from urbanpulse.kinds.modelling import FloatArray, IndexArray, TimeArray

__all__ = ["CARRIER_OUTAGE", "Delivery", "Episode", "Injector", "KnobEffect", "ValueEffect",
           "Values"]

@dataclass(slots=True)
class Delivery:
    """How one affected reading leaves: dropped, held back, sent twice, re-stamped, mangled."""

    drop: bool = False
    hold: bool = False
    copies: int = 1
    skew_ms: int = 0
    malformed: str = ""


class Injector:
    """The episodes of one kind: pending by start, active by sensor."""

    def __init__(self, n: int, value_effects: Mapping[str, ValueEffect],
                 knob_effects: Mapping[str, KnobEffect],
                 delivery_effects: Mapping[str, Callable[[Episode, Delivery], None]],
                 refill: Callable[[int], Iterable[Episode]] | None = None) -> None:
        """Start empty; `refill(day)` supplies each simulated day's random faults."""
        self._pending: list[tuple[int, int, Episode]] = []
        self._active: dict[int, list[Episode]] = {}
        self._counter = itertools.count()
        self._values, self._knobs, self._deliveries = value_effects, knob_effects, delivery_effects
        self._refill = refill
        self._next_day: int | None = None
        self._memory: dict[int, Values] = {}
        self._clean_memory: dict[int, Values] = {}
        self._next_end: float = math.inf
        self._later: list[tuple[Episode, bool]] = []
        self.flagged = np.zeros(n, dtype=bool)

    def add(self, episodes: Iterable[Episode]) -> None:
        """Schedule episodes."""
        for episode in episodes:
            heapq.heappush(self._pending, (episode.start, next(self._counter), episode))

    def window(self, start: int, end: int, t: TimeArray, idx: IndexArray,
               knobs: dict[str, FloatArray]) -> list[tuple[int, Episode]]:
        """Start and end the episodes of seconds before `end`, for a window stepping at `t`.

        The window's sensors `idx` step once each, sensor `idx[k]` at second `t[k]`,
        after this call. A change at second `e` of a sensor stepping at `t` in the
        window is made now if `e <= t`, as it was then; otherwise after the step
        (`settle`), so that each sensor steps with the episodes of its own second
        whatever the window (every episode touches its own sensor alone). Return the
        episodes that started, in start order, each with its second (`start` at the
        earliest: one pending from before it starts then).
        """
        if self._refill is not None and (self._next_day is None or start // 86_400
                                         >= self._next_day):
            day = start // 86_400
            for d in range(day if self._next_day is None else self._next_day, day + 1):
                self.add(self._refill(d))
            self._next_day = day + 1
        if self.next_change() >= end:
            return []
        # (second, 0 a start or 1 an end, when it was due, order in the schedule, episode)
        changes: list[tuple[int, int, int, int, Episode]] = []
        while self._pending and self._pending[0][0] < end:
            _, order, episode = heapq.heappop(self._pending)
            changes.append((max(episode.start, start), 0, episode.start, order, episode))
            if episode.end is not None and episode.end < end:
                changes.append((max(episode.end, start), 1, episode.end, order, episode))
        changes += [(max(e.end, start), 1, e.end, -1, e) for eps in self._active.values()
                    for e in eps if e.end is not None and e.end < end]
        changes.sort(key=lambda change: change[:4])
        due = dict(zip(idx.tolist(), t.tolist(), strict=True))
        started = []
        for second, ending, _, _, episode in changes:
            if not ending:
                started.append((second, episode))
            stepping = due.get(episode.local)
            if stepping is not None and second > stepping:
                self._later.append((episode, not ending))
            else:
                self._change(episode, not ending, knobs)
        self._find_next_end()
        return started

    def settle(self, knobs: dict[str, FloatArray]) -> None:
        """Make the changes `window` left until its sensors had stepped."""
        if not self._later:
            return
        for episode, starting in self._later:
            self._change(episode, starting, knobs)
        self._later.clear()
        self._find_next_end()

    def next_change(self) -> float:
        """Return the second of the next start or end of an episode known now, or inf."""
        return min(self._pending[0][0] if self._pending else math.inf, self._next_end)

    def _find_next_end(self) -> None:
        self._next_end = min((e.end for eps in self._active.values() for e in eps
                              if e.end is not None), default=math.inf)

    def _change(self, episode: Episode, starting: bool, knobs: dict[str, FloatArray]) -> None:
        local = episode.local
        if starting:
            self._active.setdefault(local, []).append(episode)
            self.flagged[local] = True
        else:
            remaining = [e for e in self._active.get(local, ()) if e is not episode]
            if remaining:
                self._active[local] = remaining
            else:
                self._active.pop(local, None)
                self.flagged[local] = False
            self._memory.pop(id(episode), None)
            self._clean_memory.pop(id(episode), None)
        if episode.type in self._knobs:
            self._knobs[episode.type](episode, knobs, starting)

    def apply(self, t: int, local: int, values: Values) -> Delivery:
        """Change one affected reading's values in place and return how it is delivered."""
        delivery = Delivery()
        episodes = sorted(self._active.get(local, ()), key=lambda e: (not e.incident, e.start))
        for episode in episodes:
            if episode.type in self._values:
                self._values[episode.type](episode, t, values, self._memory)
            if episode.type in self._deliveries:
                self._deliveries[episode.type](episode, delivery)
        return delivery

    def apply_incidents(self, t: int, local: int, values: Values) -> None:
        """Change the clean values of one affected sensor in place: its incidents alone.

        An incident changes the world the sensor senses (a pollution episode
        raises PM whatever the instrument); a device fault changes only what
        the instrument reports and how, so the clean signal ignores it.
        """
        for episode in sorted(self._active.get(local, ()), key=lambda e: e.start):
            if episode.incident and episode.type in self._values:
                self._values[episode.type](episode, t, values, self._clean_memory)
