"""The fleet: every simulated sensor, its schedule, its model, its episodes and its messages.

Each sensor is stepped every `step_s` seconds (its reporting interval, or the
sampling period of a report-on-change bay sensor) at a seeded phase (whole
seconds in `[0, step_s)`) after the simulated start. Sensors of one kind that
share a step and a phase form a slot.

Time is generated a frame at a time (`FRAME_S` at most, fewer for a big fleet,
never across the top of an hour) and, within a frame, each kind a window at a
time, as long as the kind's shortest step, so that each of its sensors is due
at most once in it. A window is one call of the kind's model for all its due
sensors, each at its own second (`urbanpulse.kinds.modelling.Model.step`), and
one encoding: the cost of a call is shared by every sensor due in the window,
not only by those due in the same second. An episode starting or ending inside
a window changes its sensor before or after the step, as its second falls
before or after the sensor's (`Injector.window`), so faults and incidents do
not move the windows: a run with them draws the same world as one without.
The frame's messages are then put in stream order and yielded second by
second: at each second, the ground truth of the episodes starting then comes
first (a mounted sensor's `carrier-outage` after its carrier's incident), then
readings ordered by sensor id. The stream is a pure function of the seed, the
city, the options and the start time (frames are counted from it; the end only
cuts the stream).

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

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from simulator import faults, parts, scenarios
from simulator.city import SensorSpec
from simulator.drivers import Drivers
from simulator.episodes import CARRIER_OUTAGE, Delivery, Episode, Injector
from simulator.streams import random_stream
from urbanpulse.kinds import SensorKind, get_kind
from urbanpulse.kinds.modelling import (
    FloatArray,
    IndexArray,
    MeasuringModel,
    Model,
    TimeArray,
)
from urbanpulse.messages import VERSION, Reading, SensorBirth, Truth, encoder
from urbanpulse.topics import DEFAULT_ROOT, Channel, clean_topic, sensor_topic

Message = tuple[str, bytes]
"""A topic and its encoded payload."""

FRAME_S = 300
"""The most simulated time generated before its first second is yielded. Windows are cut
at frame ends, so a frame of a few minutes shares a model call among nearly all the sensors
of a kind (most step every minute or more) and keeps a live run's look-ahead short."""
FRAME_STEPS = 50_000
"""The most sensor steps a frame holds: a big fleet's frames are shorter (100,000 sensors
reporting every 2 s make frames of one second), so a frame's messages stay a few MB."""
TRUTH, MOUNTED, READING = 0, 1, 2
"""The order of a second's messages: ground truth, a mounted sensor's truth, readings."""


@dataclass(frozen=True, slots=True)
class _Encoded:
    """The messages of a window's readings, with what `_Frame` needs to put them in order."""

    messages: list[Message]
    columns: IndexArray
    """The position in the window's sensors of each message's sensor."""
    records: NDArray[np.bool_] | None
    """Which messages are clean records (None: none is)."""


class _Frame:
    """The messages of a stretch of simulated time, gathered kind by kind, put in stream order."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._seconds: list[TimeArray] = []
        self._classes: list[NDArray[np.int8]] = []
        self._keys: list[IndexArray] = []
        self._records: list[NDArray[np.bool_]] = []

    def truth(self, t: int, message: Message, mounted: bool) -> None:
        """Add a truth announced at second `t`; truths of one second keep the order added."""
        self._add([message], np.array([t], dtype=np.int64), MOUNTED if mounted else TRUTH,
                  np.array([len(self._messages)], dtype=np.intp), None)

    def readings(self, t: TimeArray, ranks: IndexArray, encoded: _Encoded) -> None:
        """Add a window's readings: `t` and `ranks` are each message's second and sensor rank."""
        self._add(encoded.messages, t, READING, ranks, encoded.records)

    def _add(self, messages: list[Message], t: TimeArray, kind: int, keys: IndexArray,
             records: NDArray[np.bool_] | None) -> None:
        if not messages:
            return
        self._messages.extend(messages)
        self._seconds.append(t)
        self._classes.append(np.full(len(messages), kind, dtype=np.int8))
        self._keys.append(keys)
        self._records.append(records if records is not None
                             else np.zeros(len(messages), dtype=bool))

    def seconds(self) -> Iterator[tuple[int, list[Message], int, int]]:
        """Yield each second with messages, in order: them, and how many are truths and records.

        Within a second: truths, then mounted truths, in the order added; then readings
        by sensor rank, a sensor's messages in the order added (the sort is stable).
        """
        if not self._messages:
            return
        seconds = np.concatenate(self._seconds)
        classes = np.concatenate(self._classes)
        order = np.lexsort((np.concatenate(self._keys), classes, seconds))
        seconds = seconds[order]
        starts = np.flatnonzero(np.diff(seconds, prepend=-1))
        truths = np.add.reduceat((classes[order] != READING).astype(np.intp), starts)
        records = np.add.reduceat(np.concatenate(self._records)[order].astype(np.intp), starts)
        messages = self._messages
        ordered = [messages[i] for i in order.tolist()]
        ends = [*starts[1:].tolist(), len(ordered)]
        for low, high, truth_count, record_count in zip(starts.tolist(), ends, truths.tolist(),
                                                         records.tolist(), strict=True):
            yield int(seconds[low]), ordered[low:high], truth_count, record_count


@dataclass(slots=True)
class _Kind:
    """The sensors of one kind, in sensor-id order, with their model, schedule and episodes."""

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
    members: list[IndexArray]
    """The sensors of each slot, ascending."""
    steps: TimeArray
    """Each slot's step, seconds."""
    phases: TimeArray
    """Each slot's phase, seconds after the start."""
    span: int
    """The longest window: the shortest step of the kind's sensors."""
    due: TimeArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Each slot's next due second, once `Fleet.ticks` has begun."""
    clean_topics: list[str] | None = None
    """Each sensor's clean-signal topic, when the run tells the clean signal."""
    opened: NDArray[np.bool_] | None = None
    """Whether each sensor's clean signal has begun (its first reading had its record)."""
    measuring: MeasuringModel | None = None
    """The model, when the run tells the clean signal and its instruments err (checked once:
    an `isinstance` of a protocol per step was a seventh of a backfill's time)."""

    def window(self, w1: int) -> tuple[TimeArray, IndexArray] | None:
        """Take the sensors due before second `w1`, ordered by second then sensor, or None.

        Each slot is due at most once: a window is never longer than `span`.
        """
        slots = np.flatnonzero(self.due < w1)
        if not slots.size:
            return None
        seconds = self.due[slots]
        self.due[slots] += self.steps[slots]
        if slots.size == 1:
            idx = self.members[int(slots[0])]
            return np.full(len(idx), seconds[0], dtype=np.int64), idx
        idx = np.concatenate([self.members[slot] for slot in slots.tolist()])
        t = np.repeat(seconds, [len(self.members[slot]) for slot in slots.tolist()])
        order = np.lexsort((idx, t))
        return t[order], idx[order]

    def signal(self, t: TimeArray, idx: IndexArray) -> tuple[dict[str, FloatArray],
                                                             dict[str, FloatArray] | None]:
        """Step the model for sensors `idx` at seconds `t`: their readings, and clean values.

        The clean values are None when the run does not tell them or the model's
        instruments do not err: the readings are then the clean values.
        """
        if self.measuring is not None:
            measurement = self.measuring.measure(t, idx)
            return measurement.measured, measurement.clean
        return self.model.step(t, idx), None

    def encode(self, ts_ms: TimeArray, idx: IndexArray, values: dict[str, FloatArray],
               clean: dict[str, FloatArray] | None = None) -> _Encoded:
        """Encode the readings of due sensors with something to say, each at its `ts_ms`.

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
        columns: list[int] = []
        records: list[bool] = []
        for column, (ts, i, hit) in enumerate(zip(ts_ms.tolist(), idx.tolist(), flagged.tolist(),
                                                  strict=True)):
            row = {n: v for n, v in zip(names, block[:, column].tolist(), strict=True)
                   if not math.isnan(v)}
            if not row:
                continue
            clean_row = None
            if recording:
                clean_row = dict(row) if real is None else {
                    n: v for n, v in zip(names, real[:, column].tolist(), strict=True)
                    if not math.isnan(v)}
            sent, recorded = self._one(ts, i, row, hit, clean_row)
            messages.extend(sent)
            columns.extend([column] * len(sent))
            records.extend([recorded] + [False] * (len(sent) - 1) if sent else [])
        return _Encoded(messages, np.array(columns, dtype=np.intp), np.array(records, dtype=bool))

    def _vouched(self, idx: IndexArray, block: FloatArray, real: FloatArray | None) -> bool:
        """Return whether every due sensor's reading stands for its clean values (no record)."""
        assert self.opened is not None
        speaking = ~np.isnan(block).all(axis=0)
        if not (self.opened[idx] | ~speaking).all():
            return False
        return real is None or bool(((block == real) | (np.isnan(block) & np.isnan(real))).all())

    def _plain(self, ts_ms: TimeArray, idx: IndexArray, names: list[str],
               block: FloatArray) -> _Encoded:
        """Encode readings no episode touches, splicing the values into each sensor's prefix.

        The bytes are those `encoder.encode(Reading(...))` gives: every row's values
        are encoded in one call and cut apart, and NaN values are left out.
        """
        missing = np.isnan(block)
        columns = np.arange(len(idx))
        if missing.any():
            columns = np.flatnonzero(~missing.all(axis=0))  # report-on-change: most say nothing
            if not columns.size:
                return _Encoded([], columns, None)
            block = block[:, columns]
            dicts = [{n: v for n, v in zip(names, row, strict=True) if not math.isnan(v)}
                     for row in block.T.tolist()]
        else:
            dicts = [dict(zip(names, row, strict=True)) for row in block.T.tolist()]
        if not dicts:
            return _Encoded([], columns, None)
        inner = encoder.encode(dicts)[2:-2].split(b"},{")  # [{...},{...}]: no braces inside
        prefixes, topics, seqs = self.prefixes, self.topics, self.seqs
        messages = []
        for i, ts, body in zip(idx[columns].tolist(), ts_ms[columns].tolist(), inner,
                               strict=True):
            seq = seqs[i]
            seqs[i] = seq + 1
            messages.append((topics[i], b'%s%d,"seq":%d,"values":{%s}}' % (
                prefixes[i], ts, seq, body)))
        return _Encoded(messages, columns, None)

    def _one(self, ts_ms: int, i: int, row: dict[str, float], hit: bool,
             clean: dict[str, float] | None = None) -> tuple[list[Message], bool]:
        """Encode one reading, through the sensor's active episodes when it has any.

        `clean` is the sensor's clean values when the run tells the clean signal: its
        record comes first unless the reading stands for it. Return the messages, and
        whether the first is that record.
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
            return sent, False
        opened[i] = True
        spec = self.specs[i]
        return [(topics[i], encoder.encode(Reading(
            v=VERSION, sensor=spec.sensor, kind=self.name, district=spec.district, ts=ts_ms,
            seq=seq, values=clean))), *sent], True

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
        """Ground-truth messages of faults and incidents yielded so far."""
        self.cleans = 0
        """Clean records yielded so far (0 without `clean_signal`)."""
        drivers = drivers if drivers is not None else Drivers()
        faults.check_faults()
        phases = random_stream(seed, "phase").random(len(ordered))
        self._kinds: list[_Kind] = []
        for name in sorted({spec.kind for spec in ordered}):
            ranks = [rank for rank, spec in enumerate(ordered) if spec.kind == name]
            members = [ordered[rank] for rank in ranks]
            simulated = parts.simulated(name)
            model = simulated.model(members, random_stream(seed, f"model/{name}"), drivers)
            slots: dict[tuple[int, int], list[int]] = {}
            for local, (rank, spec) in enumerate(zip(ranks, members, strict=True)):
                phase = int(phases[rank] * spec.step_s)
                slots.setdefault((spec.step_s, phase), []).append(local)
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
                members=[np.array(locals_, dtype=np.intp) for locals_ in slots.values()],
                steps=np.array([step for step, _ in slots], dtype=np.int64),
                phases=np.array([phase for _, phase in slots], dtype=np.int64),
                span=min(step for step, _ in slots),
                clean_topics=[clean_topic(s.district, name, s.sensor, root=root)
                              for s in members] if clean_signal else None,
                opened=np.zeros(len(members), dtype=bool) if clean_signal else None,
                measuring=model if clean_signal and isinstance(model, MeasuringModel) else None,
            ))
        steps_per_s = sum(1 / spec.step_s for spec in ordered)
        self._frame_s = int(max(1, min(FRAME_S, FRAME_STEPS // max(steps_per_s, 1))))

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
        """Yield each simulated second from `start` (before `end`) with a message, and them.

        Messages are generated lazily, a frame at a time (module docstring): the
        models advance as the iterator is consumed.
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
            kind.due = start + kind.phases
        frame_start = start
        while end is None or frame_start < end:
            frame_end = min(frame_start + self._frame_s, (frame_start // 3600 + 1) * 3600)
            frame = _Frame()
            for kind in self._kinds:
                self._generate(kind, frame_start, frame_end, frame)
            for t, messages, truths, records in frame.seconds():
                if end is not None and t >= end:
                    return
                self.truths += truths
                self.cleans += records
                yield t, messages
            frame_start = frame_end

    def _generate(self, kind: _Kind, start: int, end: int, frame: _Frame) -> None:
        """Add a kind's truth and readings from second `start` to `end` to the frame."""
        no_time, no_one = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.intp)
        knobs = kind.model.knobs
        for w0 in range(start, end, kind.span):
            w1 = min(end, w0 + kind.span)
            due = kind.window(w1)
            t, idx = due if due is not None else (no_time, no_one)
            for second, episode in kind.injector.window(w0, w1, t, idx, knobs):
                frame.truth(second, self._truth(kind, episode), episode.type == CARRIER_OUTAGE)
            if due is not None:
                encoded = kind.encode(t * 1000, idx, *kind.signal(t, idx))
                columns = encoded.columns
                frame.readings(t[columns], kind.ranks[idx[columns]], encoded)
            kind.injector.settle(knobs)

    def _truth(self, kind: _Kind, episode: Episode) -> Message:
        spec = kind.specs[episode.local]
        truth = Truth(v=VERSION, sensor=spec.sensor, kind=kind.name, district=spec.district,
                      type=episode.type, start=episode.start * 1000,
                      end=None if episode.end is None else episode.end * 1000,
                      detail={"source": "incident" if episode.incident else "fault",
                              **episode.detail})
        return kind.truth_topics[episode.local], encoder.encode(truth)
