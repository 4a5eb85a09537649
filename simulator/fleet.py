"""The fleet: every simulated sensor, its schedule, its model, its episodes and its messages.

Each sensor is stepped every `step_s` seconds (its reporting interval, or the
sampling period of a report-on-change bay sensor) at a seeded phase (whole
seconds in `[0, step_s)`) after the simulated start. Sensors of one kind that
share a step and a phase form a slot; a heap of slots yields the simulated
seconds at which something is due, so a tick asks each kind's model once for
all its due sensors. Within a tick, ground truth of the episodes starting then
comes first (a mounted sensor's `carrier-outage` after its carrier's incident),
then readings ordered by sensor id, which makes the stream a pure
function of the seed, the city, the options and the start time.

A fleet built with `clean_signal` also tells each sensor's clean signal: what it
would have reported without measurement error (`MeasuringModel`) and without
device faults, incidents included. A reading that carries its clean values, at
its time, intact, stands for itself; otherwise a clean record (a `Reading` with
the clean values, the true `ts` and the reading's `seq`) goes on the sensor's
clean topic just before the reading, or where the reading would have been
(dropped, held back). A sensor's first reading always has one, so that a
reader knows the clean signal is told from there on.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator import faults, parts, scenarios
from simulator.city import SensorSpec
from simulator.drivers import Drivers
from simulator.episodes import CARRIER_OUTAGE, Delivery, Episode, Injector
from simulator.streams import random_stream
from urbanpulse.kinds import SensorKind, get_kind
from urbanpulse.kinds.modelling import FloatArray, IndexArray, MeasuringModel, Model
from urbanpulse.messages import VERSION, Reading, SensorBirth, Truth, encoder
from urbanpulse.topics import DEFAULT_ROOT, Channel, clean_topic, sensor_topic

Message = tuple[str, bytes]
"""A topic and its encoded payload."""


@dataclass(slots=True)
class _Kind:
    """The sensors of one kind, in sensor-id order, with their model, episodes and counters."""

    name: str
    spec: SensorKind
    model: Model
    specs: list[SensorSpec]
    topics: list[str]
    truth_topics: list[str]
    ranks: IndexArray
    prefixes: list[bytes]
    """Each sensor's encoded reading up to its `ts` value: `{"v":1,"sensor":…,"ts":`."""
    seqs: list[int]
    injector: Injector
    held: dict[int, Message]
    clean_topics: list[str] | None = None
    """Each sensor's clean-signal topic, when the run tells the clean signal."""
    opened: NDArray[np.bool_] | None = None
    """Whether each sensor's clean signal has begun (its first reading had its record)."""
    cleans: int = 0
    """Clean records generated so far."""
    measuring: MeasuringModel | None = None
    """The model, when the run tells the clean signal and its instruments err (checked once:
    an `isinstance` of a protocol per step was a seventh of a backfill's time)."""

    def signal(self, t: int, idx: IndexArray) -> tuple[dict[str, FloatArray],
                                                       dict[str, FloatArray] | None]:
        """Step the model for sensors `idx`: their readings, and their clean values.

        The clean values are None when the run does not tell them or the model's
        instruments do not err: the readings are then the clean values.
        """
        if self.measuring is not None:
            measurement = self.measuring.measure(t, idx)
            return measurement.measured, measurement.clean
        return self.model.step(t, idx), None

    def encode(self, ts_ms: int, idx: IndexArray, values: dict[str, FloatArray],
               clean: dict[str, FloatArray] | None = None) -> tuple[list[Message], IndexArray]:
        """Encode the readings of due sensors with something to say; return them and their ranks.

        `clean` is the model's clean values when they may differ from `values`; a run
        that tells the clean signal adds the clean records it needs (module docstring).
        """
        names = list(values)
        # np.array of equal rows is np.stack without its checks: a fifth of the time per call.
        block = np.array([values[name] for name in names]) if names else np.empty((0, len(idx)))
        flagged = self.injector.flagged[idx]
        real = None if clean is None else np.array([clean[name] for name in names])
        if not flagged.any() and (self.opened is None or self._vouched(idx, block, real)):
            return self._plain(ts_ms, idx, names, block)
        recording = self.opened is not None
        messages: list[Message] = []
        senders: list[int] = []
        for column, (i, hit) in enumerate(zip(idx.tolist(), flagged.tolist(), strict=True)):
            row = {n: v for n, v in zip(names, block[:, column].tolist(), strict=True)
                   if not math.isnan(v)}
            if not row:
                continue
            clean_row = None
            if recording:
                clean_row = dict(row) if real is None else {
                    n: v for n, v in zip(names, real[:, column].tolist(), strict=True)
                    if not math.isnan(v)}
            sent = self._one(ts_ms, i, row, hit, clean_row)
            messages.extend(sent)
            senders.extend([i] * len(sent))
        return messages, self.ranks[np.array(senders, dtype=np.intp)]

    def _vouched(self, idx: IndexArray, block: FloatArray, real: FloatArray | None) -> bool:
        """Return whether every due sensor's reading stands for its clean values (no record)."""
        assert self.opened is not None
        speaking = ~np.isnan(block).all(axis=0)
        if not (self.opened[idx] | ~speaking).all():
            return False
        return real is None or bool(((block == real) | (np.isnan(block) & np.isnan(real))).all())

    def _plain(self, ts_ms: int, idx: IndexArray, names: list[str],
               block: FloatArray) -> tuple[list[Message], IndexArray]:
        """Encode readings no episode touches, splicing the values into each sensor's prefix.

        The bytes are those `encoder.encode(Reading(...))` gives: every row's values
        are encoded in one call and cut apart, and NaN values are left out.
        """
        missing = np.isnan(block)
        if missing.any():
            speaking = ~missing.all(axis=0)  # report-on-change: most sensors say nothing
            idx, block = idx[speaking], block[:, speaking]
            if not idx.size:
                return [], idx
            dicts = [{n: v for n, v in zip(names, row, strict=True) if not math.isnan(v)}
                     for row in block.T.tolist()]
        else:
            dicts = [dict(zip(names, row, strict=True)) for row in block.T.tolist()]
        senders, ranks = idx.tolist(), self.ranks[idx]
        if not senders:
            return [], ranks
        inner = encoder.encode(dicts)[2:-2].split(b"},{")  # [{...},{...}]: no braces inside
        prefixes, topics, seqs = self.prefixes, self.topics, self.seqs
        ts = b"%d" % ts_ms
        messages = []
        for i, body in zip(senders, inner, strict=True):
            seq = seqs[i]
            seqs[i] = seq + 1
            messages.append((topics[i], b'%s%s,"seq":%d,"values":{%s}}' % (
                prefixes[i], ts, seq, body)))
        return messages, ranks

    def _one(self, ts_ms: int, i: int, row: dict[str, float], hit: bool,
             clean: dict[str, float] | None = None) -> list[Message]:
        """Encode one reading, through the sensor's active episodes when it has any.

        `clean` is the sensor's clean values when the run tells the clean signal: its
        record comes first unless the reading stands for it.
        """
        t = ts_ms // 1000
        delivery = self.injector.apply(t, i, row) if hit else None
        if delivery is not None:
            faults.clip(self.spec, row)
            if clean is not None:
                self.injector.apply_incidents(t, i, clean)
                faults.clip(self.spec, clean)
        seq = self.seqs[i]
        self.seqs[i] = seq + 1
        sent, intact = self._deliver(ts_ms, i, seq, row, delivery)
        opened, topics = self.opened, self.clean_topics
        if clean is None or opened is None or topics is None or (
                intact and clean == row and opened[i]):
            return sent
        opened[i] = True
        self.cleans += 1
        spec = self.specs[i]
        return [(topics[i], encoder.encode(Reading(
            v=VERSION, sensor=spec.sensor, kind=self.name, district=spec.district, ts=ts_ms,
            seq=seq, values=clean))), *sent]

    def _deliver(self, ts_ms: int, i: int, seq: int, row: dict[str, float],
                 delivery: Delivery | None) -> tuple[list[Message], bool]:
        """Return the messages that carry one reading now, and whether it left intact, on time."""
        spec = self.specs[i]
        if delivery is None:
            return [(self.topics[i], encoder.encode(Reading(
                v=VERSION, sensor=spec.sensor, kind=self.name, district=spec.district, ts=ts_ms,
                seq=seq, values=row)))], True
        if delivery.drop:
            return [], False
        payload = encoder.encode(Reading(v=VERSION, sensor=spec.sensor, kind=self.name,
                                         district=spec.district, ts=ts_ms + delivery.skew_ms,
                                         seq=seq, values=row))
        if delivery.malformed:
            payload = faults.mangle(payload, delivery.malformed)
        message = (self.topics[i], payload)
        late = self.held.pop(i, None)
        if delivery.hold and late is None:  # keep this one back until the next reading
            self.held[i] = message
            return [], False
        return ([message] * delivery.copies + ([late] if late is not None else []),
                not delivery.malformed and delivery.skew_ms == 0)


def _prefix(kind: str, spec: SensorSpec) -> bytes:
    """Return the bytes an encoded reading of `spec` starts with, up to its `ts` value."""
    whole = encoder.encode(Reading(v=VERSION, sensor=spec.sensor, kind=kind,
                                   district=spec.district, ts=0, seq=0, values={}))
    return whole[:whole.rindex(b'"ts":') + len(b'"ts":')]  # a quote inside a name is escaped


class Fleet:
    """All sensors of a run: births, then truth and readings tick by tick in simulated time."""

    def __init__(self, specs: Sequence[SensorSpec], *, seed: int, root: str = DEFAULT_ROOT,
                 drivers: Drivers | None = None, fault_rate: float = 0.0,
                 incidents: Sequence[scenarios.Incident] = (),
                 clean_signal: bool = False) -> None:
        """Build the models, the episodes and the schedule.

        Args:
            specs: The sensors; their ids must be unique.
            seed: Seed of the phases, the faults and every model's random stream.
            root: First level of every topic.
            drivers: The shared calendar and weather (default: China, seeded weather).
            fault_rate: Device faults per sensor per simulated day.
            incidents: Scenario incidents, matched to sensors when the run starts.
            clean_signal: Also tell each sensor's clean signal (module docstring). The
                readings are the same bytes either way.
        """
        ordered = sorted(specs, key=lambda spec: spec.sensor)
        for before, after in itertools.pairwise(ordered):
            if before.sensor == after.sensor:
                raise ValueError(f"Sensor id {before.sensor!r} is used twice.")
        self.specs: tuple[SensorSpec, ...] = tuple(ordered)
        self._root, self._seed = root, seed
        self._incidents = tuple(incidents)
        self._fault_rate = fault_rate
        self.truths = 0
        """Ground-truth messages of faults and incidents generated so far."""
        drivers = drivers if drivers is not None else Drivers()
        faults.check_faults()
        phases = random_stream(seed, "phase").random(len(ordered))
        self._kinds: list[_Kind] = []
        self._slots: dict[tuple[int, int, int], IndexArray] = {}
        for position, name in enumerate(sorted({spec.kind for spec in ordered})):
            ranks = [rank for rank, spec in enumerate(ordered) if spec.kind == name]
            members = [ordered[rank] for rank in ranks]
            simulated = parts.simulated(name)
            model = simulated.model(members, random_stream(seed, f"model/{name}"), drivers)
            self._kinds.append(_Kind(
                name=name,
                spec=get_kind(name),
                model=model,
                specs=members,
                topics=[sensor_topic(Channel.READINGS, s.district, name, s.sensor, root=root)
                        for s in members],
                truth_topics=[sensor_topic(Channel.TRUTH, s.district, name, s.sensor, root=root)
                              for s in members],
                ranks=np.array(ranks, dtype=np.intp),
                prefixes=[_prefix(name, s) for s in members],
                seqs=[0] * len(members),
                injector=self._injector(get_kind(name), members, simulated),
                held={},
                clean_topics=[clean_topic(s.district, name, s.sensor, root=root)
                              for s in members] if clean_signal else None,
                opened=np.zeros(len(members), dtype=bool) if clean_signal else None,
                measuring=model if clean_signal and isinstance(model, MeasuringModel) else None,
            ))
            slots: dict[tuple[int, int, int], list[int]] = {}
            for local, (rank, spec) in enumerate(zip(ranks, members, strict=True)):
                phase = int(phases[rank] * spec.step_s)
                slots.setdefault((position, spec.step_s, phase), []).append(local)
            self._slots.update({key: np.array(members_, dtype=np.intp)
                                for key, members_ in slots.items()})

    def _injector(self, kind: SensorKind, members: list[SensorSpec],
                  simulated: parts.Simulated) -> Injector:
        seed, rate, targets = self._seed, self._fault_rate, simulated.fault_targets
        incidents = simulated.incidents
        return Injector(
            len(members),
            {**faults.value_effects(kind),
             **{name: e.values for name, e in incidents.items() if e.values is not None}},
            {**faults.KNOB_EFFECTS,
             **{name: e.knobs for name, e in incidents.items() if e.knobs is not None}},
            faults.DELIVERY_EFFECTS,
            refill=(lambda day: faults.draw_faults(seed, kind, day, members, rate, targets))
            if rate > 0 else None)

    @property
    def cleans(self) -> int:
        """Return how many clean records were generated so far (0 without `clean_signal`)."""
        return sum(kind.cleans for kind in self._kinds)

    def births(self, ts_ms: int) -> Iterator[Message]:
        """Yield one retained birth per sensor, in sensor-id order, stamped `ts_ms`."""
        for spec in self.specs:
            birth = SensorBirth(v=VERSION, sensor=spec.sensor, kind=spec.kind,
                                district=spec.district, site=spec.site, lat=spec.lat,
                                lon=spec.lon, zone=spec.zone, interval_s=spec.interval_s,
                                ts=ts_ms,
                                attributes=dict(spec.attributes))
            topic = sensor_topic(Channel.SENSORS, spec.district, spec.kind, spec.sensor,
                                 root=self._root)
            yield topic, encoder.encode(birth)

    def ticks(self, start: int, end: float | None = None) -> Iterator[tuple[int, list[Message]]]:
        """Yield each simulated second from `start` (before `end`) with a message due, and them.

        Messages are generated lazily: the models advance as the iterator is consumed.
        """
        matched = [scenarios.episodes(self._incidents, kind.spec, kind.specs, start)
                   for kind in self._kinds]
        outages: dict[str, list[Episode]] = {}
        for kind, found in zip(self._kinds, matched, strict=True):
            silencing = scenarios.silences_mounted(kind.spec)
            for episode in found:
                if episode.type in silencing:
                    outages.setdefault(episode.sensor, []).append(episode)
        for kind, found in zip(self._kinds, matched, strict=True):
            kind.injector.add([*found, *scenarios.mounted(outages, kind.spec, kind.specs)])
        heap = [(start + phase, position, step, phase)
                for position, step, phase in self._slots]
        heapq.heapify(heap)
        while heap:
            t = heap[0][0]
            if end is not None and t >= end:
                return
            due: dict[int, list[IndexArray]] = {}
            while heap and heap[0][0] == t:
                _, position, step, phase = heapq.heappop(heap)
                due.setdefault(position, []).append(self._slots[position, step, phase])
                heapq.heappush(heap, (t + step, position, step, phase))
            yield t, self._messages(t, due)

    def _messages(self, t: int, due: dict[int, list[IndexArray]]) -> list[Message]:
        truths: list[Message] = []
        parts: list[tuple[IndexArray, list[Message]]] = []
        mounted: list[Message] = []  # after their carriers' truths: the cause comes first
        for position, kind in enumerate(self._kinds):
            for episode in kind.injector.advance(t, kind.model.knobs):
                (mounted if episode.type == CARRIER_OUTAGE else truths).append(
                    self._truth(kind, episode))
            if position not in due:
                continue
            groups = due[position]
            idx = groups[0] if len(groups) == 1 else np.sort(np.concatenate(groups))
            messages, ranks = kind.encode(t * 1000, idx, *kind.signal(t, idx))
            parts.append((ranks, messages))
        truths.extend(mounted)
        self.truths += len(truths)
        if len(parts) == 1 and not truths:
            return parts[0][1]
        order = np.argsort(np.concatenate([ranks for ranks, _ in parts]
                                          or [np.empty(0, dtype=np.intp)]), kind="stable")
        messages = [message for _, batch in parts for message in batch]
        return truths + [messages[i] for i in order.tolist()]

    def _truth(self, kind: _Kind, episode: Episode) -> Message:
        spec = kind.specs[episode.local]
        truth = Truth(v=VERSION, sensor=spec.sensor, kind=kind.name, district=spec.district,
                      type=episode.type, start=episode.start * 1000,
                      end=None if episode.end is None else episode.end * 1000,
                      detail={"source": "incident" if episode.incident else "fault",
                              **episode.detail})
        return kind.truth_topics[episode.local], encoder.encode(truth)
