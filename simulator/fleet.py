"""The fleet: every simulated sensor, its schedule, its model and its encoded messages.

Each sensor reports every `interval_s` seconds at a seeded phase (whole seconds
in `[0, interval_s)`) after the simulated start. Sensors of one kind that share
an interval and a phase form a slot; a heap of slots yields the simulated
seconds at which something is due, so a tick asks each kind's model once for
all its due sensors. Within a tick, messages are ordered by sensor id, which
makes the stream a pure function of the seed, the city and the start time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.city import SensorSpec
from simulator.models import FloatArray, IndexArray, Model, build_model
from simulator.streams import random_stream
from urbanpulse.messages import Reading, SensorBirth, encoder
from urbanpulse.topics import DEFAULT_ROOT, Channel, sensor_topic

Message = tuple[str, bytes]
"""A topic and its encoded payload."""


@dataclass(slots=True)
class _Kind:
    """The sensors of one kind, in sensor-id order, with their model and counters."""

    name: str
    model: Model
    ids: list[str]
    districts: list[str]
    topics: list[str]
    ranks: IndexArray
    seqs: list[int]

    def encode(self, ts_ms: int, idx: IndexArray, values: dict[str, FloatArray]) -> list[Message]:
        """Encode one reading per due sensor, advancing each sensor's sequence number."""
        names = list(values)
        rows = zip(*(values[name].tolist() for name in names), strict=True)
        kind, ids, districts, topics, seqs = (self.name, self.ids, self.districts, self.topics,
                                              self.seqs)
        encode = encoder.encode
        messages = []
        for i, row in zip(idx.tolist(), rows, strict=True):
            seq = seqs[i]
            seqs[i] = seq + 1
            reading = Reading(v=1, sensor=ids[i], kind=kind, district=districts[i], ts=ts_ms,
                              seq=seq, values=dict(zip(names, row, strict=True)))
            messages.append((topics[i], encode(reading)))
        return messages


class Fleet:
    """All sensors of a run: births, then readings tick by tick in simulated time."""

    def __init__(self, specs: Sequence[SensorSpec], *, seed: int, root: str = DEFAULT_ROOT) -> None:
        """Build the models and the schedule.

        Args:
            specs: The sensors; their ids must be unique.
            seed: Seed of the reporting phases and of every model's random stream.
            root: First level of every topic.
        """
        ordered = sorted(specs, key=lambda spec: spec.sensor)
        for before, after in itertools.pairwise(ordered):
            if before.sensor == after.sensor:
                raise ValueError(f"Sensor id {before.sensor!r} is used twice.")
        self.specs: tuple[SensorSpec, ...] = tuple(ordered)
        self._root = root
        phases = random_stream(seed, "phase").random(len(ordered))
        self._kinds: list[_Kind] = []
        self._slots: dict[tuple[int, int, int], IndexArray] = {}
        for position, name in enumerate(sorted({spec.kind for spec in ordered})):
            ranks = [rank for rank, spec in enumerate(ordered) if spec.kind == name]
            members = [ordered[rank] for rank in ranks]
            self._kinds.append(_Kind(
                name=name,
                model=build_model(name, members, random_stream(seed, f"model/{name}")),
                ids=[spec.sensor for spec in members],
                districts=[spec.district for spec in members],
                topics=[sensor_topic(Channel.READINGS, spec.district, name, spec.sensor, root=root)
                        for spec in members],
                ranks=np.array(ranks, dtype=np.intp),
                seqs=[0] * len(members),
            ))
            slots: dict[tuple[int, int, int], list[int]] = {}
            for local, (rank, spec) in enumerate(zip(ranks, members, strict=True)):
                phase = int(phases[rank] * spec.interval_s)
                slots.setdefault((position, spec.interval_s, phase), []).append(local)
            self._slots.update({key: np.array(members_, dtype=np.intp)
                                for key, members_ in slots.items()})

    def births(self, ts_ms: int) -> Iterator[Message]:
        """Yield one retained birth per sensor, in sensor-id order, stamped `ts_ms`."""
        for spec in self.specs:
            birth = SensorBirth(v=1, sensor=spec.sensor, kind=spec.kind, district=spec.district,
                                site=spec.site, lat=spec.lat, lon=spec.lon, zone=spec.zone,
                                interval_s=spec.interval_s, ts=ts_ms,
                                attributes=dict(spec.attributes))
            topic = sensor_topic(Channel.SENSORS, spec.district, spec.kind, spec.sensor,
                                 root=self._root)
            yield topic, encoder.encode(birth)

    def ticks(self, start: int, end: float | None = None) -> Iterator[tuple[int, list[Message]]]:
        """Yield each simulated second from `start` (before `end`) with a reading due, and them.

        Readings are generated lazily: the models advance as the iterator is consumed.
        """
        heap = [(start + phase, position, interval, phase)
                for position, interval, phase in self._slots]
        heapq.heapify(heap)
        while heap:
            t = heap[0][0]
            if end is not None and t >= end:
                return
            due: dict[int, list[IndexArray]] = {}
            while heap and heap[0][0] == t:
                _, position, interval, phase = heapq.heappop(heap)
                due.setdefault(position, []).append(self._slots[position, interval, phase])
                heapq.heappush(heap, (t + interval, position, interval, phase))
            yield t, self._readings(t, due)

    def _readings(self, t: int, due: dict[int, list[IndexArray]]) -> list[Message]:
        parts: list[tuple[IndexArray, list[Message]]] = []
        for position in sorted(due):
            kind = self._kinds[position]
            groups = due[position]
            idx = groups[0] if len(groups) == 1 else np.sort(np.concatenate(groups))
            values = kind.model.step(t, idx)
            parts.append((kind.ranks[idx], kind.encode(t * 1000, idx, values)))
        if len(parts) == 1:
            return parts[0][1]
        order = np.argsort(np.concatenate([ranks for ranks, _ in parts]), kind="stable")
        messages = [message for _, batch in parts for message in batch]
        return [messages[i] for i in order.tolist()]
