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
from urbanpulse.kinds.modelling import FloatArray

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
        self.flagged = np.zeros(n, dtype=bool)

    def add(self, episodes: Iterable[Episode]) -> None:
        """Schedule episodes."""
        for episode in episodes:
            heapq.heappush(self._pending, (episode.start, next(self._counter), episode))

    def advance(self, t: int, knobs: dict[str, FloatArray]) -> list[Episode]:
        """Start and end episodes at `t`; return those that started, in start order."""
        day = t // 86_400
        if self._refill is not None and (self._next_day is None or day >= self._next_day):
            for d in range(day if self._next_day is None else self._next_day, day + 1):
                self.add(self._refill(d))
            self._next_day = day + 1
        if t < self._next_end and not (self._pending and self._pending[0][0] <= t):
            return []
        started = []
        while self._pending and self._pending[0][0] <= t:
            episode = heapq.heappop(self._pending)[2]
            self._active.setdefault(episode.local, []).append(episode)
            self.flagged[episode.local] = True
            if episode.type in self._knobs:
                self._knobs[episode.type](episode, knobs, True)
            started.append(episode)
        for local in [k for k, eps in self._active.items() if any(
                e.end is not None and e.end <= t for e in eps)]:
            keep = []
            for episode in self._active[local]:
                if episode.end is not None and episode.end <= t:
                    if episode.type in self._knobs:
                        self._knobs[episode.type](episode, knobs, False)
                    self._memory.pop(id(episode), None)
                    self._clean_memory.pop(id(episode), None)
                else:
                    keep.append(episode)
            if keep:
                self._active[local] = keep
            else:
                del self._active[local]
                self.flagged[local] = False
        self._next_end = min((e.end for eps in self._active.values() for e in eps
                              if e.end is not None), default=math.inf)
        return started

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
