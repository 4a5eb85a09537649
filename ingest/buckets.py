"""One time bucket of one kind's rollups: per-sensor sums, counts, minima and maxima as arrays.

Row i of every array is the kind's sensor i (`ingest.rollups.KindRollup` numbers
them); readings are folded in a batch of a kind at a time: sorted by row, reduced
per sensor with `ufunc.reduceat` (a third of the cost of the unbuffered
`ufunc.at`), then written to each sensor's row once. Float sums are added in the
readings' order, one at a time, as before: `reduceat` sums a run in another order,
which would change a mean in its last digit, so a sensor with a single reading in
the batch (the usual case) is added directly and only one with several goes through
`np.add.at`. A field a reading lacks is NaN in its row of values: it adds nothing
to the sum or the field's count and is skipped by `fmin`/`fmax`.
Points come out as line protocol, the district points summed over their sensors,
with the fields a `Layout` names: `X_mean`, `X_min`, `X_max` of a number, `X_mean`
(the share true) and the integer `X_true` of a boolean (folded as 1 or 0), and an
integer per tally (a column of 1 or 0 per reading, so its sum is the count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, cast

import msgspec
import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
STATS: Final = ("mean", "min", "max")
_json: Final = msgspec.json.Encoder().encode
_FIELDS: Final = bytes.maketrans(b":", b"=")


class Bucket:
    """Sum, count, min and max of each field of each sensor in one time bucket."""

    __slots__ = ("counts", "dirty", "highs", "lows", "readings", "start", "sums")

    def __init__(self, start: int, fields: int, rows: int = 64) -> None:
        self.start = start
        """Bucket start, epoch ms (UTC-aligned)."""
        self.sums: Floats = np.zeros((rows, fields))
        self.counts: Ints = np.zeros((rows, fields), np.int64)
        self.lows: Floats = np.full((rows, fields), np.inf)
        self.highs: Floats = np.full((rows, fields), -np.inf)
        self.readings: Ints = np.zeros(rows, np.int64)
        self.dirty = np.zeros(rows, np.bool_)
        """Rows changed since their point was last written."""

    def grow(self, rows: int) -> None:
        """Make room for `rows` sensors (doubling, so a growing fleet copies little)."""
        have = len(self.readings)
        if rows <= have:
            return
        extra = max(rows, 2 * have) - have
        fields = self.sums.shape[1]
        self.sums = np.concatenate((self.sums, np.zeros((extra, fields))))
        self.counts = np.concatenate((self.counts, np.zeros((extra, fields), np.int64)))
        self.lows = np.concatenate((self.lows, np.full((extra, fields), np.inf)))
        self.highs = np.concatenate((self.highs, np.full((extra, fields), -np.inf)))
        self.readings = np.concatenate((self.readings, np.zeros(extra, np.int64)))
        self.dirty = np.concatenate((self.dirty, np.zeros(extra, np.bool_)))

    def add(self, rows: Ints, values: Floats) -> None:
        """Fold readings in: `rows` their sensors, `values` (readings × fields), NaN = absent."""
        order, starts, sensors = runs(rows)
        values = values[order]
        self.grow(int(sensors[-1]) + 1)
        present = ~np.isnan(values)
        addends = np.where(present, values, 0.0)
        readings = np.diff(starts, append=len(rows))
        single = readings == 1
        self.sums[sensors[single]] += addends[starts[single]]
        if not single.all():
            several = np.repeat(~single, readings)
            np.add.at(self.sums, rows[order][several], addends[several])
        self.counts[sensors] += np.add.reduceat(present, starts, dtype=np.int64)
        self.lows[sensors] = np.fmin(self.lows[sensors], np.fmin.reduceat(values, starts))
        self.highs[sensors] = np.fmax(self.highs[sensors], np.fmax.reduceat(values, starts))
        self.readings[sensors] += readings
        self.dirty[sensors] = True

    def touch(self, rows: Ints) -> None:
        """Mark `rows` changed (readings folded into a minute of this hour)."""
        self.grow(int(rows.max()) + 1)
        self.dirty[rows] = True

    def merge(self, other: Bucket) -> None:
        """Fold all of `other` (a closed minute of this hour) in."""
        rows = len(other.readings)
        self.grow(rows)
        self.sums[:rows] += other.sums
        self.counts[:rows] += other.counts
        np.fmin(self.lows[:rows], other.lows, out=self.lows[:rows])
        np.fmax(self.highs[:rows], other.highs, out=self.highs[:rows])
        self.readings[:rows] += other.readings

    def with_minutes(self, minutes: Sequence[Bucket]) -> Bucket:
        """Return a copy of this hour with its still-open `minutes` merged in."""
        copy = Bucket(self.start, self.sums.shape[1], len(self.readings))
        copy.merge(self)
        for minute in minutes:
            copy.merge(minute)
        copy.dirty[:len(self.dirty)] = self.dirty
        return copy


def runs(keys: Ints) -> tuple[Ints, Ints, Ints]:
    """Group `keys` for `ufunc.reduceat`: return the order that sorts them (stable), where
    each distinct key's run starts in that order, and the distinct keys, ascending."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return order, starts, ordered[starts]


@dataclass(frozen=True, slots=True)
class Layout:
    """Which rollup fields a bucket's columns (numbers, then booleans, then tallies) become."""

    floats: list[str]
    """Names of the float fields, in order."""
    picks: Ints
    """Per float field, its index in the stats (mean, min, max of each column, interleaved)."""
    integers: list[str]
    """Names of the integer fields (booleans' `X_true`, tallies), in order."""
    sums: Ints
    """Per integer field, the column whose sum it is."""


def layout(numbers: Sequence[str], booleans: Sequence[str] = (), tallies: Sequence[str] = ()
           ) -> Layout:
    """Return the layout of columns `numbers`, then `booleans`, then `tallies`."""
    flags = range(len(numbers), len(numbers) + len(booleans))
    picks = [*range(len(STATS) * len(numbers)), *(len(STATS) * column for column in flags)]
    return Layout(floats=[*(f"{name}_{stat}" for name in numbers for stat in STATS),
                          *(f"{name}_mean" for name in booleans)],
                  picks=np.array(picks, np.int64),
                  integers=[*(f"{name}_true" for name in booleans), *tallies],
                  sums=np.array([*flags, *range(flags.stop, flags.stop + len(tallies))],
                                np.int64))


def _integers(names: Sequence[str], sums: Floats, counts: Ints) -> list[str]:
    """Return each row's integer fields as `,name=Ni`, leaving out those no reading carried."""
    if not names:
        return [""] * len(sums)
    values = cast("list[list[int]]", np.rint(sums).astype(np.int64).tolist())
    shown = cast("list[list[bool]]", (counts > 0).tolist())
    return ["".join(f",{name}={value}i" for name, value, keep in zip(names, row, keeps,
                                                                       strict=True) if keep)
            for row, keeps in zip(values, shown, strict=True)]


def _fields(names: Sequence[str], stats: Floats, present: npt.NDArray[np.bool_]) -> list[str]:
    """Return each row's fields as line protocol, leaving out fields no reading carried.

    msgspec writes each float as its shortest repr (which line protocol reads
    back exactly) much faster than Python; one translate turns the JSON
    object's ':' into '=' and drops the quotes, as for readings (ingest.points).
    """
    full = cast("list[bool]", present.all(axis=1).tolist())
    shown_rows = cast("list[list[bool]]", present.tolist())
    out = []
    for values, shown, whole in zip(stats.tolist(), shown_rows, full, strict=True):
        fields = dict(zip(names, values, strict=True)) if whole else {
            name: value for name, value, keep in zip(names, values, shown, strict=True) if keep}
        out.append(_json(fields)[1:-1].translate(_FIELDS, b'"').decode())
    return out


def _row_fields(shape: Layout, sums: Floats, counts: Ints, lows: Floats, highs: Floats
                ) -> list[str]:
    """Return each row's fields as line protocol: the floats, then `,name=Ni` integers."""
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    stats = np.stack((means, lows, highs), axis=2).reshape(len(sums), -1)[:, shape.picks]
    present = np.repeat(counts > 0, len(STATS), axis=1)[:, shape.picks]
    floats = _fields(shape.floats, stats, present)
    if not shape.integers:
        return floats
    integers = _integers(shape.integers, sums[:, shape.sums], counts[:, shape.sums])
    return [text + extra for text, extra in zip(floats, integers, strict=True)]


def sensor_lines(bucket: Bucket, measurement: str, shape: Layout, keys: Sequence[str]
                 ) -> list[str]:
    """Return the points of the sensors of `bucket` that changed and have readings.

    `keys[i]` is row i's tag set (`district=…,sensor=…`).
    """
    rows = np.flatnonzero(bucket.dirty & (bucket.readings > 0))
    if not len(rows):
        return []
    texts = _row_fields(shape, bucket.sums[rows], bucket.counts[rows], bucket.lows[rows],
                        bucket.highs[rows])
    return [f"{measurement},{keys[row]} {fields},count={count}i {bucket.start}"
            for row, fields, count in zip(rows.tolist(), texts, bucket.readings[rows].tolist(),
                                          strict=True)]


def district_lines(bucket: Bucket, measurement: str, shape: Layout,
                   district_of: Ints, districts: Sequence[str]) -> list[str]:
    """Return the district points of `bucket` for the districts with a sensor that changed.

    `district_of[i]` is the index in `districts` of row i's district.
    """
    rows = np.flatnonzero(bucket.readings > 0)
    if not len(rows):
        return []
    wanted = np.zeros(len(districts), np.bool_)
    wanted[district_of[np.flatnonzero(bucket.dirty & (bucket.readings > 0))]] = True
    order, starts, present = runs(district_of[rows])
    rows = rows[order]
    chosen = np.flatnonzero(wanted[present])  # among the districts with readings
    # Each district's float sums in row order, one row at a time (`np.add.reduce` along
    # the rows does so; `reduceat` would not): the same digits as ever.
    runs_of = np.split(bucket.sums[rows], starts[1:])
    sums = np.array([np.add.reduce(runs_of[index], axis=0, initial=0.0)
                     for index in chosen.tolist()]).reshape(len(chosen), bucket.sums.shape[1])
    texts = _row_fields(shape, sums, np.add.reduceat(bucket.counts[rows], starts)[chosen],
                        np.fmin.reduceat(bucket.lows[rows], starts)[chosen],
                        np.fmax.reduceat(bucket.highs[rows], starts)[chosen])
    readings = np.add.reduceat(bucket.readings[rows], starts)[chosen]
    sensors = np.diff(starts, append=len(rows))[chosen]
    return [f"{measurement},district={districts[index]} {text},count={count}i,"
            f"sensors={seen}i {bucket.start}"
            for index, text, count, seen in zip(
                present[chosen].tolist(), texts, readings.tolist(), sensors.tolist(),
                strict=True)]
