"""Rollups written at ingest: per sensor and per district×kind, per minute and per hour.

Measurements `{kind}_1h` (tags `district`, `sensor`), `{kind}_1m` for a kind
that reports more often than once a minute (for the others it would be the raw
point again: `urbanpulse.rollups`), and `{kind}_district_1m`/`_1h` (tag
`district`), at the bucket's UTC-aligned start, with `X_mean`, `X_min`, `X_max`
for every metric and numeric derived field X, `X_mean` (share true) and integer
`X_true` for a boolean derived field, an integer per tally the kind declares
(`SensorKind.tallies`), integer `count` (readings) and, per district, integer
`sensors`. A kind's sensors keep rows in the minute buckets either way: the
district minutes are summed from them and the hours merged from them.

A reading is folded in only once InfluxDB has its raw point (the pipeline
hands over each written batch), so the open buckets always equal an aggregate
of raw points, and the same `(sensor, ts)` is folded once per open minute: a
redelivered reading, or a device's duplicate (which overwrites one raw point),
counts once. Buckets close by a watermark of reading time (the newest `ts`
seen, never past the clock) less `lateness_ms`; a closed bucket's last point
is written then (a closed minute joins its hour, and its duplicate check is
freed), open ones are rewritten for the sensors that changed. A reading of a
closed minute goes into no bucket: its (kind, district, hour) is recomputed
from the raw points, for the closed minutes at once and for the hour again
once the hour closed. So the duplicate check holds the readings of the open
minutes only, never those of the hour.
On start the watermark is the newest raw point InfluxDB holds, and the open
window (from the hour before the watermark's) is reseeded from the raw
points, which also fills the duplicate check of the open minutes. With no raw
point yet, the watermark starts at the first readings: a history loaded into an
empty database is rolled up as it arrives.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any, Final

import numpy as np

from ingest.buckets import Bucket, Floats, Ints, district_lines, layout, sensor_lines
from urbanpulse.kinds import KINDS, SensorKind
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading
from urbanpulse.rollups import Resolution, has_sensor_minutes, rollup_measurement

MINUTE: Final = 60_000
HOUR: Final = 3_600_000
NO_WATERMARK: Final = -(2**62)
"""The watermark before any reading: no bucket is closed."""
_NUMERIC: Final = frozenset({"integer", "float"})
_OFFSET_BITS: Final = 16  # ms within a minute < 2**16: a (row, ts) key is one int
_BOOLEAN: Final = "boolean"
_TS: Final = attrgetter("ts")
RawPoint = tuple[str, int, list[float]]
"""A raw point read back: sensor, time (epoch ms), values of the kind's rollup fields."""
Recompute = tuple[str, str, int]
"""A (kind, district, hour start) whose closed buckets are recomputed from raw points."""


def rollup_fields(kind: SensorKind) -> tuple[str, ...]:
    """Return the fields a kind's rollups read of a reading: its metrics, numeric derived
    fields, then boolean derived fields (as 1 or 0)."""
    return (*kind.metrics, *_derived(kind, _NUMERIC), *_derived(kind, {_BOOLEAN}))


def _derived(kind: SensorKind, types: frozenset[str] | set[str]) -> list[str]:
    return [name for name, spec in kind.derived.items() if spec.type in types]


def _tally_columns(kind: SensorKind, fields: Sequence[str]
                   ) -> list[tuple[int, float | None]]:
    """Return per tally the column of its field and its level (None: count the carriers)."""
    return [(fields.index(tally.field), tally.at_least) for tally in kind.tallies.values()]


class KindRollup:
    """The open minute and hour buckets of one kind, with the sensors numbered as rows."""

    def __init__(self, kind: SensorKind) -> None:
        self.name = kind.name
        self.fields = rollup_fields(kind)
        """The fields read of a reading (or a raw point), in the order of its values."""
        booleans = _derived(kind, {_BOOLEAN})
        self.layout = layout(self.fields[:len(self.fields) - len(booleans)], booleans,
                             list(kind.tallies))
        self.sensor_minutes = has_sensor_minutes(kind)
        """Whether per-sensor minute points are written (`urbanpulse.rollups`)."""
        self._tallies = _tally_columns(kind, self.fields)
        self._width = len(self.fields) + len(self._tallies)
        self._metrics = tuple(kind.metrics)
        self._derived = self.fields[len(self._metrics):]
        self._rows: dict[str, dict[str, int]] = {}
        self.keys: list[str] = []
        """Row i's tags as line protocol: `district=…,sensor=…`."""
        self.districts: list[str] = []
        self._district_index: dict[str, int] = {}
        self._district_of: list[int] = []
        self.minutes: dict[int, Bucket] = {}
        self.hours: dict[int, Bucket] = {}
        self._seen: dict[int, set[int]] = {}
        self._taken_rows: list[int] = []
        self._taken: list[Reading] = []
        self._taken_derived: list[Mapping[str, FieldValue]] = []
        self._raw_rows: list[int] = []
        self._raw_ts: list[int] = []
        self._raw_values: list[list[float]] = []

    def row(self, district: str, sensor: str) -> int:
        """Return the row of (district, sensor), numbering a new one."""
        rows = self._rows.get(district)
        if rows is None:
            rows = self._rows[district] = {}
            self._district_index[district] = len(self.districts)
            self.districts.append(district)
        row = rows.get(sensor)
        if row is None:
            row = rows[sensor] = len(self.keys)
            self.keys.append(f"district={district},sensor={sensor}")
            self._district_of.append(self._district_index[district])
        return row

    def district(self, row: int) -> str:
        """Return the district of `row`."""
        return self.districts[self._district_of[row]]

    def take(self, reading: Reading, derived: Mapping[str, FieldValue]) -> None:
        """Queue one written reading for the next `fold` (its values are read there)."""
        rows = self._rows.get(reading.district)
        row = rows.get(reading.sensor) if rows is not None else None
        if row is None:
            row = self.row(reading.district, reading.sensor)
        self._taken_rows.append(row)
        self._taken.append(reading)
        self._taken_derived.append(derived)

    def newest(self) -> int:
        """Return the newest time of the readings taken since the last fold (0 if none)."""
        return max(map(_TS, self._taken), default=0)

    def take_row(self, row: int, ts: int, values: list[float]) -> None:
        """Queue one raw point read back from InfluxDB for the next `fold`."""
        self._raw_rows.append(row)
        self._raw_ts.append(ts)
        self._raw_values.append(values)

    def _take_all(self) -> tuple[Ints, Ints, Floats]:
        """Return the rows, times and values (NaN: absent) of what was taken, and forget it.

        A reading's values are read a column at a time over all the readings
        taken: no list per reading, and numpy fills each column from one list.
        """
        parts: list[tuple[Ints, Ints, Floats]] = []
        if self._taken:
            readings, derived = self._taken, self._taken_derived
            values: Floats = np.empty((len(readings), len(self.fields)))
            nan = math.nan
            for column, name in enumerate(self._metrics):
                values[:, column] = [reading.values.get(name, nan) for reading in readings]
            for column, name in enumerate(self._derived, len(self._metrics)):
                values[:, column] = [extra.get(name, nan) for extra in derived]
            parts.append((np.array(self._taken_rows, np.int64),
                          np.fromiter(map(_TS, readings), np.int64, len(readings)), values))
            self._taken_rows, self._taken, self._taken_derived = [], [], []
        if self._raw_rows:
            parts.append((np.array(self._raw_rows, np.int64), np.array(self._raw_ts, np.int64),
                          np.array(self._raw_values, np.float64)))
            self._raw_rows, self._raw_ts, self._raw_values = [], [], []
        if len(parts) == 1:
            return parts[0]
        (rows, stamps, found), (more_rows, more_stamps, more) = parts
        return (np.concatenate((rows, more_rows)), np.concatenate((stamps, more_stamps)),
                np.concatenate((found, more)))

    def fold(self, minute_floor: float, *, raw: bool = False) -> set[Recompute]:
        """Fold what was taken into the buckets; return what must be recomputed from raw.

        A minute is open to readings while it has a duplicate check: from its first
        reading at or after `minute_floor` until `lines` closes it. A reading of a
        minute that is not open goes into no bucket; its hour is recomputed from
        raw points. `raw` (points read back from InfluxDB, one per series and
        time) opens a bucket for every minute, with a duplicate check for those
        at or after the floor only: the closed ones take no further reading.
        """
        if not (self._taken_rows or self._raw_rows):
            return set()
        rows, stamps, values = self._take_all()
        values = self._tallied(values)
        recompute: set[Recompute] = set()
        offsets = stamps % MINUTE
        minutes = stamps - offsets
        for minute in np.unique(minutes).tolist():
            at = np.flatnonzero(minutes == minute)
            seen = self._seen.get(minute)
            if seen is None and minute >= minute_floor:
                seen = self._seen[minute] = set()
            if seen is None and not raw:
                recompute.update((self.name, self.district(row), minute - minute % HOUR)
                                 for row in set(rows[at].tolist()))
                continue
            if seen is not None:
                keys = ((rows[at] << _OFFSET_BITS) | offsets[at]).tolist()
                # set.add returns None: True once per key, also for a key twice in this batch
                keep = [key not in seen and not seen.add(key) for key in keys]  # type: ignore[func-returns-value]
                if not all(keep):
                    at = at[np.array(keep, np.bool_)]
                    if not len(at):
                        continue
            bucket = self.minutes.get(minute)
            if bucket is None:
                bucket = self.minutes[minute] = Bucket(minute, self._width)
            hour = minute - minute % HOUR
            hour_bucket = self.hours.get(hour)
            if hour_bucket is None:
                hour_bucket = self.hours[hour] = Bucket(hour, self._width)
            bucket.add(rows[at], values[at])
            hour_bucket.touch(rows[at])
        return recompute

    def _tallied(self, values: Floats) -> Floats:
        """Return `values` with a column per tally: 1 where the reading counts, else 0."""
        if not self._tallies:
            return values
        with np.errstate(invalid="ignore"):  # NaN (absent) is never at or above a level
            counted = [~np.isnan(values[:, column]) if level is None
                       else values[:, column] >= level for column, level in self._tallies]
        return np.column_stack((values, *counted)).astype(np.float64)

    def lines(self, minute_floor: float, hour_floor: float, *, hours: bool) -> list[str]:
        """Return the points of changed buckets and close those before their floors.

        Minutes are written every call, hours when `hours` is set or they close.
        """
        out: list[str] = []
        district_of: Ints = np.array(self._district_of, np.int64)
        for start in sorted(self.minutes):
            minute = self.minutes[start]
            out += self.points(minute, "1m", district_of)
            if start < minute_floor:
                del self.minutes[start]
                self._seen.pop(start, None)
                self.hours[start - start % HOUR].merge(minute)
        for start in sorted(self.hours):
            closing = start < hour_floor
            if not (hours or closing):
                continue
            hour = self.hours[start]
            open_minutes = [minute for begin, minute in self.minutes.items()
                            if begin - begin % HOUR == start]
            out += self.points(hour.with_minutes(open_minutes) if open_minutes else hour,
                                "1h", district_of)
            hour.dirty[:] = False
            if closing:
                del self.hours[start]
        return out

    def points(self, bucket: Bucket, span: Resolution, district_of: Ints | None = None
               ) -> list[str]:
        """Return the points of `bucket` (a minute or an hour) that changed, and mark them
        written: per sensor (minutes only if `sensor_minutes`) and per district."""
        if not bucket.dirty.any():
            return []
        if district_of is None:
            district_of = np.array(self._district_of, np.int64)
        out = (sensor_lines(bucket, rollup_measurement(self.name, "sensor", span), self.layout,
                            self.keys) if span == "1h" or self.sensor_minutes else [])
        out += district_lines(bucket, rollup_measurement(self.name, "district", span),
                              self.layout, district_of, self.districts)
        bucket.dirty[:] = False
        return out


class Rollups:
    """Every kind's rollups, the watermark that closes their buckets, and what to recompute."""

    def __init__(self, *, lateness_ms: int, kinds: Iterable[SensorKind] | None = None
                 ) -> None:
        self._kinds = {kind.name: KindRollup(kind) for kind in
                       (KINDS.values() if kinds is None else kinds)}
        self._lateness = lateness_ms
        self.watermark = NO_WATERMARK
        """Newest reading time folded (never ahead of the clock), epoch ms; only grows."""
        self.recompute: dict[Recompute, int] = {}
        """(kind, district, hour) whose closed buckets wait to be recomputed from raw points,
        with the `generation` in which a late reading last asked for it."""
        self.generation = 0
        """Counts recompute passes: one waits until its item stopped receiving readings."""
        self._at_close: set[Recompute] = set()
        """Recomputes of hours still open (their live bucket lacks the late readings), queued
        again once the hour closed."""

    @property
    def kinds(self) -> Mapping[str, KindRollup]:
        """The rollups of each kind, by name."""
        return self._kinds

    def floors(self) -> tuple[int, int]:
        """Return the starts of the oldest open minute and hour."""
        edge = self.watermark - self._lateness
        return edge - edge % MINUTE, edge - edge % HOUR

    def reseed_from(self) -> int | None:
        """Return where the start-up reseed reads raw points from: the hour before the open one.

        That hour's last points may have been waiting in a batch at a crash.
        None before there is a watermark: nothing to reseed.
        """
        return None if self.watermark == NO_WATERMARK else self.floors()[1] - HOUR

    def written(self, readings: Sequence[Reading | None],
                derived: Sequence[Mapping[str, FieldValue] | None], now_ms: int) -> None:
        """Fold readings InfluxDB has written (None: a point that is not a reading)."""
        kinds = self._kinds
        for reading, extra in zip(readings, derived, strict=True):
            if reading is None or extra is None:
                continue
            kind = kinds.get(reading.kind)
            if kind is None:
                kind = kinds[reading.kind] = KindRollup(KINDS[reading.kind])
            kind.take(reading, extra)
        self.fold(min(max(kind.newest() for kind in kinds.values()), now_ms))

    def fold(self, newest_ms: int, *, raw: bool = False) -> None:
        """Fold what each kind took, then move the watermark to `newest_ms` if later.

        `raw`: what was taken are raw points read back at start, which open every
        bucket (`KindRollup.fold`).
        """
        minute_floor, hour_floor = self.floors()
        for kind in self._kinds.values():
            late = kind.fold(minute_floor, raw=raw)
            if late:
                self.recompute.update(dict.fromkeys(late, self.generation))
                self._at_close.update(item for item in late
                                      if item[2] >= hour_floor or item[2] in kind.hours)
        self.watermark = max(self.watermark, newest_ms)

    def settled(self, most: int) -> list[Recompute]:
        """Take up to `most` recomputes no late reading asked for since the last call."""
        ready = sorted(item for item, generation in self.recompute.items()
                       if generation < self.generation)[:most]
        for item in ready:
            del self.recompute[item]
        self.generation += 1
        return ready

    def lines(self, *, hours: bool) -> list[str]:
        """Return the points of every changed bucket, closing those the watermark passed."""
        minute_floor, hour_floor = self.floors()
        out = [line for kind in self._kinds.values()
               for line in kind.lines(minute_floor, hour_floor, hours=hours)]
        closed = [item for item in self._at_close if item[2] < hour_floor]
        for item in closed:  # its live point was just written: the recompute comes after it
            self._at_close.discard(item)
            self.recompute.setdefault(item, self.generation)
        return out


def recomputed(kind: SensorKind, district: str, hour: int, points: Iterable[RawPoint],
               floors: tuple[int, int]) -> list[str]:
    """Return the closed buckets of (kind, district, hour) computed from its raw `points`.

    Minutes before the oldest open minute are returned, and the hour itself if
    it is closed; open buckets are left to the live rollups.
    """
    scratch = KindRollup(kind)
    for sensor, ts, values in points:
        scratch.take_row(scratch.row(district, sensor), ts, values)
    scratch.fold(math.inf, raw=True)
    minute_floor, hour_floor = floors
    out: list[str] = []
    whole = scratch.hours.get(hour)
    for start, minute in sorted(scratch.minutes.items()):
        if start < minute_floor:
            out += scratch.points(minute, "1m")
        if whole is not None:
            whole.merge(minute)
    if whole is not None and hour < hour_floor:
        out += scratch.points(whole, "1h")
    return out


def raw_points(fields: Sequence[str], columns: Sequence[str], values: Sequence[Sequence[Any]]
               ) -> Iterable[tuple[str, str, int, list[float]]]:
    """Yield (district, sensor, ts, rollup values) of the rows of a `SELECT *` of raw points."""
    where = {name: index for index, name in enumerate(columns)}
    district, sensor, time = where["district"], where["sensor"], where["time"]
    picks = [where.get(name) for name in fields]
    for row in values:
        yield (row[district], row[sensor], int(row[time]),
               [math.nan if pick is None or row[pick] is None else float(row[pick])
                for pick in picks])
