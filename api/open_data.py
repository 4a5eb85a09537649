"""The open-data feed: hourly aggregates per sensor of one kind, as JSON or CSV.

The rows are the hourly rollups the ingester writes, never raw readings: one
point per sensor and hour in `{kind}_1h`, with `<metric>_mean`, `_min`, `_max`
and `count` (the readings in the hour). Hours are aligned on UTC hours, which
are also Asia/Shanghai hours (UTC+8); hours without readings have no rollup and
are left out, and so is a metric the hour has no value of. The hour still being
written is exported as it stands: its `count` so far and the aggregates of those
readings. Rows come by hour, then district, then sensor.

Both forms are made of *pieces*: the rendered rows (CSV lines, or JSON objects
joined by commas) of one district's sensors in one hour. A settled hour (one
that ended an hour or more before the current hour began, as for the district
summary) hardly ever changes, so its pieces are kept in `HourPieces`, an LRU
bounded in bytes, and a day's export is mostly a join of kept pieces. A kept
piece is served only while the district's hourly rollup (`{kind}_district_1h`,
one point per district and hour, read for the whole range in one statement)
still shows the `count` and `sensors` the piece was rendered with, so a late
reading or a history loaded afterwards (which the ingester recomputes into
both rollups) makes the piece be rendered again. A piece is kept only when its
own rows add up to that district point, so a piece never disagrees with it. An
hour, settled or not, that no district point of the range covers has no rows
and is not read (a kind whose sensors report every few hours has many; the
ingester writes an hour's district points in the same write as its sensors'),
unless the range has no district point at all (rollups written before the
district ones were).

The rest is read `rows_per_statement` sensor-hours at a time at most (whole
hours, one statement per run of hours not kept), so the answer streams and no
statement reads more than that.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import msgspec

from api.influx import InfluxQuery
from api.view_models import ExportMetadata
from urbanpulse.influxql import Series, quote_identifier, tag_equals, time_from, where
from urbanpulse.kinds import SensorKind
from urbanpulse.kinds.summaries import DECIMALS, HOUR_MS
from urbanpulse.rollups import rollup_measurement

STATS = ("mean", "min", "max")
COUNT = "count"
"""The rollup field holding the readings of the hour, exported as `readings`."""
ROWS_PER_STATEMENT = 10_000
"""Sensor-hours one statement may read at most (whole hours; at least one hour): rendering
them holds the event loop for about 0.1 s."""
Form = Literal["csv", "json"]


def iso(ms: int) -> str:
    """Return epoch ms as ISO 8601 UTC with a `Z`, to the second."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hourly_measurement(kind: SensorKind) -> str:
    """Return the name of the kind's per-sensor hourly rollup measurement."""
    return rollup_measurement(kind.name, "sensor", "1h")


def settled_before(now_ms: int) -> int:
    """Return the end of the settled hours at `now_ms`: the start of the hour before now's."""
    return now_ms - now_ms % HOUR_MS - HOUR_MS


async def export_sensors(influx: InfluxQuery, kind: SensorKind, district: str | None
                         ) -> list[str]:
    """Return the ids of the sensors with hourly rollups of `kind` (in `district`), sorted."""
    series = await influx.query(
        f"SHOW TAG VALUES FROM {quote_identifier(hourly_measurement(kind))} "
        f"WITH KEY = {quote_identifier('sensor')}{where(tag_equals('district', district))}")
    return sorted({str(row["value"]) for one in series for row in one.rows()})


Fingerprint = tuple[int, int]
"""A district's hour as its rollup shows it: (readings, sensors)."""


async def fingerprints(influx: InfluxQuery, kind: SensorKind, district: str | None, *,
                       start_ms: int, end_ms: int) -> dict[tuple[int, str], Fingerprint]:
    """Return the (readings, sensors) of each district-hour in [start, end), by (hour, district)."""
    source = quote_identifier(rollup_measurement(kind.name, "district", "1h"))
    series = await influx.query(
        f"SELECT {quote_identifier(COUNT)}, {quote_identifier('sensors')} FROM {source}"
        + where(tag_equals("district", district), time_from(start_ms), f"time < {end_ms}ms")
        + f" GROUP BY {quote_identifier('district')}")
    found = {}
    for one in series:
        name = one.tags.get("district", "")
        for hour, count, sensors in one.values:
            if isinstance(count, int) and isinstance(sensors, int):
                found[int(hour), name] = (count, sensors)
    return found


async def district_rollup_written(influx: InfluxQuery, kind: SensorKind,
                                  district: str | None) -> bool:
    """Return whether the kind's district hourly rollup holds any point (of `district`).

    A range without one is then one without readings (a kind that reports daily, a
    quiet day), answered without reading every sensor's series hour by hour: at 4,500
    manholes that was 1.5 s for an empty day.
    """
    source = quote_identifier(rollup_measurement(kind.name, "district", "1h"))
    series = await influx.query(f"SELECT {quote_identifier(COUNT)} FROM {source}"
                                + where(tag_equals("district", district)) + " LIMIT 1")
    return any(one.values for one in series)


class PieceKey(NamedTuple):
    kind: str
    hour: int
    district: str
    form: Form


class HourPieces:
    """Rendered pieces of settled hours, least recently used first out past `budget` bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self.refused = 0
        """Pieces offered with `room_only` that did not fit."""
        self._pieces: OrderedDict[PieceKey, tuple[Fingerprint, bytes]] = OrderedDict()

    def get(self, key: PieceKey, fingerprint: Fingerprint) -> bytes | None:
        """Return the piece kept for `key` if it was rendered at `fingerprint`."""
        kept = self._pieces.get(key)
        if kept is None or kept[0] != fingerprint:
            return None
        self._pieces.move_to_end(key)
        return kept[1]

    def put(self, key: PieceKey, fingerprint: Fingerprint, piece: bytes, *,
            room_only: bool = False) -> None:
        """Keep `piece`, dropping the least recently used ones beyond the budget; with
        `room_only`, only if it fits beside the others (it drops none)."""
        old = self._pieces.pop(key, None)
        if old is not None:
            self.size -= len(old[1])
        if len(piece) > (self.budget - self.size if room_only else self.budget):
            self.refused += room_only
            return
        self._pieces[key] = (fingerprint, piece)
        self.size += len(piece)
        while self.size > self.budget:
            _, (_, dropped) = self._pieces.popitem(last=False)
            self.size -= len(dropped)

    def __len__(self) -> int:
        return len(self._pieces)


@dataclass(frozen=True, slots=True)
class Rendered:
    """One district's rows of one hour, rendered, with what they add up to."""

    hour: int
    district: str
    piece: bytes
    fingerprint: Fingerprint


@dataclass(frozen=True, slots=True)
class Columns:
    """Where each value sits in a row of the hourly statement (`hours_statement`)."""

    metrics: tuple[str, ...]
    """The kind's metrics, in catalog order."""
    places: tuple[tuple[int, int, int, int], ...]
    """(position in `metrics`, index of mean, of min, of max) of each metric the answer
    has all three columns of."""


def hours_statement(kind: SensorKind, district: str | None, start_ms: int, end_ms: int) -> str:
    """Return the statement reading the sensors' hours in [start, end) as one series."""
    columns = ", ".join([f"{quote_identifier('sensor')}::tag",
                         f"{quote_identifier('district')}::tag", quote_identifier(COUNT),
                         *(quote_identifier(f"{metric}_{stat}")
                           for metric in kind.metrics for stat in STATS)])
    return (f"SELECT {columns} FROM {quote_identifier(hourly_measurement(kind))}"
            + where(tag_equals("district", district), time_from(start_ms),
                    f"time < {end_ms}ms"))


def _columns(kind: SensorKind, series: Series) -> Columns:
    at = {name: index for index, name in enumerate(series.columns)}
    metrics = tuple(kind.metrics)
    places = tuple((position, at[f"{metric}_mean"], at[f"{metric}_min"], at[f"{metric}_max"])
                   for position, metric in enumerate(metrics)
                   if all(f"{metric}_{stat}" in at for stat in STATS))
    return Columns(metrics, places)


def render(kind: SensorKind, series: list[Series], form: Form) -> list[Rendered]:
    """Return the pieces of the answer to `hours_statement`, by hour, then district."""
    rows: list[list[Any]] = [row for one in series for row in one.values]
    if not rows:
        return []
    # time, sensor, district, count come first, as the statement asks for them.
    rows.sort(key=lambda row: (row[0], row[2] or "", row[1] or ""))
    columns = _columns(kind, series[0])
    line = _csv_line if form == "csv" else _json_row
    rendered = []
    first = 0
    for last in range(1, len(rows) + 1):
        if last < len(rows) and rows[last][0] == rows[first][0] \
                and rows[last][2] == rows[first][2]:
            continue
        run = rows[first:last]
        hour = int(run[0][0])
        stamp = iso(hour)
        text = [line(columns, stamp, row) for row in run]
        piece = ("".join(text) if form == "csv" else ",".join(text)).encode()
        readings = sum(int(row[3] or 0) for row in run)
        rendered.append(Rendered(hour, str(run[0][2] or ""), piece, (readings, len(run))))
        first = last
    return rendered


_NUMBER = (int, float)


def _stats(columns: Columns, row: Sequence[Any]) -> Iterator[tuple[str, float, float, float]]:
    """Yield each metric the row has all three numbers of, the mean rounded (`derived`)."""
    for position, mean_at, low_at, high_at in columns.places:
        mean, low, high = row[mean_at], row[low_at], row[high_at]
        # A metric the hour never carried has no values; the open hour may lack some too.
        if isinstance(mean, _NUMBER) and isinstance(low, _NUMBER) \
                and isinstance(high, _NUMBER):
            yield (columns.metrics[position], round(float(mean), DECIMALS), float(low),
                   float(high))


def _csv_line(columns: Columns, hour: str, row: Sequence[Any]) -> str:
    # Sensor and district names are names of the topic grammar: nothing to quote in CSV.
    # A loop of its own rather than `_stats`: this line is the cold export's hot spot.
    cells = [",,"] * len(columns.metrics)  # three empty cells
    for position, mean_at, low_at, high_at in columns.places:
        mean, low, high = row[mean_at], row[low_at], row[high_at]
        if isinstance(mean, _NUMBER) and isinstance(low, _NUMBER) \
                and isinstance(high, _NUMBER):
            cells[position] = f"{round(float(mean), DECIMALS)!r},{float(low)!r},{float(high)!r}"
    return f"{hour},{row[1]},{row[2] or ''},{int(row[3] or 0)},{','.join(cells)}\n"


def _json_row(columns: Columns, hour: str, row: Sequence[Any]) -> str:
    del hour  # the JSON gives the hour as epoch ms
    values = {metric: {"mean": mean, "min": low, "max": high}
              for metric, mean, low, high in _stats(columns, row)}
    return msgspec.json.encode({"hour_start": int(row[0]), "sensor": row[1],
                                "district": row[2] or "", "readings": int(row[3] or 0),
                                "values": values}).decode()


async def pieces(influx: InfluxQuery, kept: HourPieces, kind: SensorKind, form: Form, *,
                 district: str | None, sensors: int, start_ms: int, end_ms: int,
                 now_ms: int, max_hours: int | None = None,
                 also: Form | None = None) -> AsyncIterator[bytes]:
    """Yield the export's pieces in order: kept ones, and the others read and rendered.

    `sensors` (of the kind, in the district) sizes the statements: whole hours of
    up to `ROWS_PER_STATEMENT` sensor-hours, and at most `max_hours` hours. The
    first statement runs before the first piece is yielded, so a failing
    InfluxDB raises before an answer starts. With `also`, the settled hours read
    are rendered in that form too and kept where there is room (the warmer keeps
    both forms from one read); an hour is read unless both its forms are kept.
    """
    prints = await fingerprints(influx, kind, district, start_ms=start_ms, end_ms=end_ms)
    by_hour: dict[int, dict[str, Fingerprint]] = {}
    for (hour, name), fingerprint in prints.items():
        by_hour.setdefault(hour, {})[name] = fingerprint
    settled = settled_before(now_ms)
    hours_per_statement = max(1, ROWS_PER_STATEMENT // max(sensors, 1))
    if max_hours is not None:
        hours_per_statement = min(hours_per_statement, max_hours)
    # An hour without a district point has no rows, once the district rollup is known to be
    # written at all: without any of its points (rollups older than those), every hour is read.
    skip_empty = bool(by_hour) or await district_rollup_written(influx, kind, district)

    def held(hour: int) -> list[bytes] | None:
        found = _kept_hour(kept, kind, form, hour, by_hour.get(hour), settled, skip_empty)
        if also is None or found is None or _kept_hour(
                kept, kind, also, hour, by_hour.get(hour), settled, skip_empty) is not None:
            return found
        return None

    hour = start_ms
    while hour < end_ms:
        if (kept_pieces := held(hour)) is not None:
            for piece in kept_pieces:
                yield piece
            hour += HOUR_MS
            continue
        last = hour + HOUR_MS  # read on to the next kept hour, within the statement's size
        while last < end_ms and (last - hour) // HOUR_MS < hours_per_statement \
                and held(last) is None:
            last += HOUR_MS
        series = await influx.query(hours_statement(kind, district, hour, last))
        found = render(kind, series, form)
        for one in found:
            _keep(kept, kind, form, one, settled, by_hour)
        if also is not None:  # in the room the asked-for form leaves
            for one in render(kind, series, also):
                _keep(kept, kind, also, one, settled, by_hour, room_only=True)
        for one in found:
            yield one.piece
        hour = last


def _keep(kept: HourPieces, kind: SensorKind, form: Form, one: Rendered, settled: int,
          by_hour: dict[int, dict[str, Fingerprint]], *, room_only: bool = False) -> None:
    """Keep a rendered piece of a settled hour whose rows add up to its district's rollup."""
    if one.hour + HOUR_MS <= settled \
            and by_hour.get(one.hour, {}).get(one.district) == one.fingerprint:
        kept.put(PieceKey(kind.name, one.hour, one.district, form), one.fingerprint,
                 one.piece, room_only=room_only)


def _kept_hour(kept: HourPieces, kind: SensorKind, form: Form, hour: int,
               districts: dict[str, Fingerprint] | None, settled: int, skip_empty: bool
               ) -> list[bytes] | None:
    """Return the kept pieces of an hour in district order, or None if it is to be read.

    An hour without district points, settled or not, has no rows (the ingester
    writes a district's point in the same write as its sensors'): `[]` with
    `skip_empty`, else None (read it).
    """
    if not districts:
        return [] if skip_empty else None
    if hour + HOUR_MS > settled:
        return None
    found = []
    for name in sorted(districts):
        piece = kept.get(PieceKey(kind.name, hour, name, form), districts[name])
        if piece is None:
            return None
        found.append(piece)
    return found


def json_head(metadata: ExportMetadata) -> bytes:
    """Return the JSON export up to its first row: `{"metadata": {...}, "rows": [`."""
    return b'{"metadata":' + metadata.__pydantic_serializer__.to_json(metadata) + b',"rows":['


async def json_body(head: bytes, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Yield the JSON export: `head`, the pieces joined by commas, and the closing `]}`."""
    yield head
    first = True
    async for piece in body:
        if piece:
            yield piece if first else b"," + piece
            first = False
    yield b"]}"


def csv_head(metadata: ExportMetadata) -> bytes:
    """Return the CSV's `# ` metadata block and its header line."""
    units = "; ".join(f"{metric}={unit}" for metric, unit in metadata.units.items())
    lines = [f"# {key}: {' '.join(str(value).split())}\n" for key, value in (
        ("title", metadata.title), ("kind", metadata.kind),
        ("range", f"{iso(metadata.start)} to {iso(metadata.end)} "
                  "(start inclusive, end exclusive, UTC)"),
        ("district", metadata.district or "all"), ("units", units),
        ("columns", "readings: the readings of the hour (so far, for the hour still "
                    "being written); <metric>_mean, <metric>_min, <metric>_max over "
                    "the hour; empty when the hour had no value of the metric"),
        ("licence", metadata.licence), ("generated_at", metadata.generated_at),
        ("source", metadata.source))]
    # One line per entry: a line break in a setting must not end the comment block.
    header = ",".join(["hour_start", "sensor", "district", "readings",
                       *(f"{metric}_{stat}" for metric in metadata.units for stat in STATS)])
    return ("".join(lines) + header + "\n").encode()
