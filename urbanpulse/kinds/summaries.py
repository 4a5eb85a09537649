"""What a kind's `summary.py` builds on: current readings, local days, sections and views.

A kind's `summary.py` (docs/adding-a-kind.md) may declare

    SECTION   a `Section`: the kind's part of the district summary, keyed by kind name
    VIEWS     `{name: View}`: lists the api serves at `/v1/{kind}/{name}`

Both receive what they need as values and protocols of the contract (births as
`Birth`, InfluxDB as `urbanpulse.influxql.Queries`) and build their own
InfluxQL, so a kind imports no service. When the `Queries` a kind is given also
hold every sensor's newest reading (`LatestReadings`: the api's state in
memory, fed by MQTT), `current_readings` answers from them without a query;
only history (today's draw, period counts, compliance) reaches InfluxDB: settled
hours from the ingester's hourly rollups, the rest from raw points
(`history_spans`, `history_statement`).
The api gathers the sections, registers the views, and answers the HTTP side
(parameters, errors, distances, ordering).

A sensor's reading is *current* at time `at` when it is the newest one at or
before `at` and no older than `STALE_FACTOR` times the sensor's declared
interval, the same multiple the stale-sensor alert uses; in memory, which holds
the present and only each sensor's newest reading, one stamped up to
`PRESENT_AHEAD_MS` after `at` (a device clock's skew the ingester accepts) is
current too. Local days are
Asia/Shanghai days (UTC+8, no daylight saving time). Floats a summary derives
(means, sums, shares, distances, percentages) are rounded by `derived`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeGuard, TypeVar

from pydantic import BaseModel

from urbanpulse.births import MAX_FUTURE_S
from urbanpulse.influxql import Queries, Series, quote_identifier, tag_equals, time_from, where
from urbanpulse.kinds.spec import SensorKind
from urbanpulse.rollups import rollup_measurement
from urbanpulse.standards.noise import SHANGHAI_UTC_OFFSET_H

__all__ = ["DAY_MS", "DECIMALS", "HOUR_MS", "MINUTE_MS", "PRESENT_AHEAD_MS",
           "STALE_FACTOR", "Birth", "Column", "Current",
           "LatestReadings", "Section", "Span", "SummaryRequest", "View", "current_readings",
           "current_statement", "derived", "history_spans", "history_statement",
           "holds_latest", "is_current", "local_day_start", "newest_current", "readings_count",
           "tally_count", "true_count"]

STALE_FACTOR = 3
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
DECIMALS = 4
PRESENT_AHEAD_MS = MAX_FUTURE_S * 1000
"""How far ahead of the present a held reading may be stamped: the skew the ingester accepts."""
_LOCAL_OFFSET_MS = SHANGHAI_UTC_OFFSET_H * HOUR_MS

SectionModel = TypeVar("SectionModel", bound=BaseModel)
Item = TypeVar("Item", bound=BaseModel)


def derived(value: float) -> float:
    """Return a value the api derived, rounded to `DECIMALS` places."""
    return round(value, DECIMALS)


def local_day_start(at_ms: int) -> int:
    """Return the epoch ms of the local (UTC+8) midnight that starts the day of `at_ms`."""
    return (at_ms + _LOCAL_OFFSET_MS) // DAY_MS * DAY_MS - _LOCAL_OFFSET_MS


class Birth(Protocol):
    """A sensor's metadata from its newest birth, as the api reads it back."""

    @property
    def sensor(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def district(self) -> str: ...
    @property
    def site(self) -> str: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def interval_s(self) -> int: ...
    @property
    def attributes(self) -> Mapping[str, bool | int | float | str]: ...


@dataclass(frozen=True, slots=True)
class Current:
    """A sensor and its current reading (fields by name, `time` in epoch ms)."""

    sensor: Birth
    row: Mapping[str, Any]

    @property
    def ts(self) -> int:
        """Time of the reading, epoch ms."""
        return int(self.row["time"])

    def number(self, name: str) -> float | None:
        """Return a numeric field of the reading, or None when it is absent."""
        value = self.row.get(name)
        if value is None or isinstance(value, str):
            return None
        return float(value)


class LatestReadings(Protocol):
    """Every sensor's newest reading, held in memory beside a `Queries` (the api's state)."""

    def newest(self, sensor: str) -> Mapping[str, Any] | None:
        """Return the newest reading of `sensor` (fields by name, `time` in epoch ms), or None."""
        ...


def holds_latest(queries: Queries) -> TypeGuard[LatestReadings]:
    """Tell whether `queries` also hold the newest readings (`LatestReadings`).

    One attribute look-up: a runtime-checkable protocol's `isinstance` costs more
    than the rest of a small section.
    """
    return callable(getattr(queries, "newest", None))


def is_current(sensor: Birth, time_ms: int, *, at_ms: int, ahead_ms: int = 0) -> bool:
    """Tell whether a reading of `sensor` at `time_ms` is current at `at_ms`.

    A reading stamped up to `ahead_ms` after `at_ms` counts too: the present
    (`_held_current`) passes the clock skew the ingester accepts.
    """
    return (time_ms <= at_ms + ahead_ms
            and at_ms - time_ms <= STALE_FACTOR * sensor.interval_s * 1000)


def current_statement(kind: str, births: Sequence[Birth], fields: Sequence[str], *,
                      at_ms: int) -> str:
    """Return the query of the newest row per sensor of `births` (one kind, not empty).

    The window is the longest any of them needs; `newest_current` then checks each
    row against its own sensor's interval.
    """
    lookback = STALE_FACTOR * max(sensor.interval_s for sensor in births) * 1000
    columns = ", ".join(quote_identifier(name) for name in fields)
    districts = sorted({sensor.district for sensor in births})
    scope = tag_equals("district", districts[0]) if len(districts) == 1 else ""
    return (f"SELECT {columns} FROM {quote_identifier(kind)}"
            f"{where(scope, time_from(at_ms - lookback), f'time <= {at_ms}ms')} "
            f"GROUP BY {quote_identifier('sensor')} ORDER BY time DESC LIMIT 1")


def newest_current(births: Sequence[Birth], series: Sequence[Series], *, at_ms: int
                   ) -> list[Current]:
    """Return the current reading of each of `births` found in `series`, in the births' order."""
    newest = {one.tags.get("sensor", ""): row for one in series for row in one.rows()}
    found = []
    for sensor in births:
        row = newest.get(sensor.sensor)
        if row is not None and is_current(sensor, row["time"], at_ms=at_ms):
            found.append(Current(sensor, row))
    return found


def _held_current(latest: LatestReadings, births: Sequence[Birth], fields: Sequence[str], *,
                  at_ms: int) -> list[Current]:
    """Return the current readings of `births` held in memory that carry any of `fields`.

    Memory holds the present, and only each sensor's newest reading: one stamped
    ahead of `at_ms` by no more than the ingester accepts (`PRESENT_AHEAD_MS`, a
    device's clock skew) is current, or the sensor would have none until the
    clock caught up, where InfluxDB still has the reading before it.
    """
    found = []
    newest, latest_ms = latest.newest, at_ms + PRESENT_AHEAD_MS
    for sensor in births:  # `is_current` and any of `fields`, inlined: a view's every request
        row = newest(sensor.sensor)
        if row is None or row["time"] > latest_ms \
                or at_ms - row["time"] > STALE_FACTOR * sensor.interval_s * 1000:
            continue
        for name in fields:
            if row.get(name) is not None:
                found.append(Current(sensor, row))
                break
    return found


async def current_readings(queries: Queries, kind: str, births: Sequence[Birth],
                           fields: Sequence[str], *, at_ms: int) -> list[Current]:
    """Return the current reading of each of `births` (one kind), in the births' order.

    `queries` that hold the latest readings (`LatestReadings`) answer without a query.
    """
    if not births:
        return []
    if holds_latest(queries):
        return _held_current(queries, births, fields, at_ms=at_ms)
    series = await queries.query(current_statement(kind, births, fields, at_ms=at_ms))
    return newest_current(births, series, at_ms=at_ms)


Span = tuple[Literal["1h", "raw"], int, int]
"""History to read: the hourly rollups (`1h`) or raw points (`raw`), and [start, end) of
the buckets or points to read, epoch ms."""


def history_spans(start: int, end: int, *, at_ms: int) -> list[Span]:
    """Split [start, end) (whole minutes) into spans of settled hours and of raw points.

    Whole hours that ended an hour or more before `at_ms`'s hour began are read from
    the `_1h` rollups; the rest from raw points: a part hour at either end, and the
    hour of `at_ms` and the one before (the ingester writes an open hour every few
    minutes and closes it only a lateness after its end). A sensor of a kind that
    reports once a minute or less often has a raw point per minute at most, so
    raw points cost no more than minute rollups would, and the ingester writes
    none for such a kind (`urbanpulse.rollups`).
    """
    settled = at_ms - at_ms % HOUR_MS - HOUR_MS
    first = -(-start // HOUR_MS) * HOUR_MS
    last = min(end - end % HOUR_MS, settled)
    if first >= last:
        return [("raw", start, end)] if start < end else []
    spans: list[Span] = [("raw", start, first), ("1h", first, last), ("raw", last, end)]
    return [span for span in spans if span[1] < span[2]]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a history statement: its aggregate over hourly rollup points and over
    raw points (`SUM("count")` and `COUNT("seq")`), selected `AS alias`."""

    alias: str
    hourly: str
    raw: str
    raw_where: str = ""
    """A condition the raw points it counts meet (`"pressure_mpa" >= 0.14`); a column with
    one is read from raw points by a subquery of its own."""


def readings_count(alias: str) -> Column:
    """Return the column of how many readings: `count` of the rollups, raw points' `seq`."""
    return Column(alias, 'SUM("count")', 'COUNT("seq")')


def tally_count(kind: SensorKind, name: str, alias: str) -> Column:
    """Return the column of the kind's tally `name`: the readings carrying its field, or with
    the field at or above its level (`urbanpulse.kinds.spec.Tally`)."""
    tally = kind.tallies[name]
    field = quote_identifier(tally.field)
    return Column(alias, f"SUM({quote_identifier(tally.name)})", f"COUNT({field})",
                  "" if tally.at_least is None else f"{field} >= {tally.at_least!r}")


def true_count(field: str, alias: str) -> Column:
    """Return the column of how many readings carry the boolean `field` true."""
    name = quote_identifier(field)
    return Column(alias, f"SUM({quote_identifier(f'{field}_true')})", f"COUNT({name})",
                  f"{name} = true")


def history_statement(kind: str, district: str | None, columns: Sequence[Column],
                      spans: Sequence[Span]) -> str:
    """Return one statement of `columns` per sensor over each of `spans` (not empty) of
    `kind` in `district`: its hourly rollups or its raw points.

    Spans are subqueries of one statement: InfluxQL selects nothing for an OR of
    time ranges; so are raw columns with a condition of their own. A row of an
    aggregate (`SUM`, `COUNT`) is stamped with its span's start, a row of a
    selector (`LAST`) with the bucket or point it picked; a row lacks the
    columns of the other subqueries (null).
    """
    hourly = quote_identifier(rollup_measurement(kind, "sensor", "1h"))
    by_sensor = f" GROUP BY {quote_identifier('sensor')}"
    parts = []
    for span, begin, end in spans:
        selects: dict[str, list[str]] = {}
        for column in columns:
            condition, select = ("", column.hourly) if span == "1h" else (column.raw_where,
                                                                          column.raw)
            selects.setdefault(condition, []).append(
                f"{select} AS {quote_identifier(column.alias)}")
        source = hourly if span == "1h" else quote_identifier(kind)
        window = (tag_equals("district", district), time_from(begin), f"time < {end}ms")
        parts += [f"SELECT {', '.join(chosen)} FROM {source}{where(*window, condition)}"
                  f"{by_sensor}" for condition, chosen in selects.items()]
    if len(parts) == 1:
        return parts[0]
    return f"SELECT * FROM {', '.join(f'({part})' for part in parts)}{by_sensor}"


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    """What a section is built from: the district's births of the section's kind at `at_ms`.

    The births are the sensors born at or before `at_ms`, each as its newest birth then.
    A section reads the present (current readings) at `at_ms` and history (a day's
    counts, registers, compliance) to `history_at`: the same time, unless the api
    keeps the district's history and gives the time it last read it (`history_ms`).
    """

    queries: Queries
    kind: str
    district: str
    births: Sequence[Birth]
    at_ms: int
    history_ms: int | None = None

    @property
    def history_at(self) -> int:
        """Return the time the section's history is read to, epoch ms."""
        return self.at_ms if self.history_ms is None else self.history_ms


@dataclass(frozen=True, slots=True)
class Section(Generic[SectionModel]):
    """A kind's part of the district summary: its response model and how to build it."""

    model: type[SectionModel]
    build: Callable[[SummaryRequest], Awaitable[SectionModel]]


@dataclass(frozen=True, slots=True)
class View(Generic[Item]):
    """A list of a kind's sensors the api serves at `/v1/{kind}/{name}`.

    The api selects the births the view `lists` (in the district, born by `at`),
    reads the current `fields` of each, and turns each current reading into an
    item with `to_item` (None: the reading is no item, say a lot's sensor that
    reported something else). Given a place, it keeps the items within the radius,
    nearest first; otherwise it orders them by `ranking`.

    Attributes:
        item: The response model of one item; its last field should be `distance_m`,
            the only one the distance goes into (the api encodes an item once per
            reading and writes each answer's distance in that place).
        summary: The route's one-line summary in the OpenAPI document.
        description: What the route answers, for the OpenAPI document.
        fields: The fields of the kind's readings the items are made of.
        lists: Whether the view lists a sensor, from its birth.
        to_item: One item from a current reading and its distance from the place (None:
            no place given), in metres to four places.
        ranking: The sort key of an item when no place is given (smallest first).
        keeps: Whether `to_item` makes an item of a current reading, told without
            making it (None: not known). Given a place, the api then makes only the
            items it returns and counts the others with this.
    """

    item: type[Item]
    summary: str
    description: str
    fields: tuple[str, ...]
    lists: Callable[[Birth], bool]
    to_item: Callable[[Current, float | None], Item | None]
    ranking: Callable[[Item], tuple[Any, ...]]
    keeps: Callable[[Current], bool] | None = None
