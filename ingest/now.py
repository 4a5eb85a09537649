"""Each sensor's last value of every field, and the "now" snapshot written from it.

`NowState` takes the readings InfluxDB wrote, as the latest state does, but
keeps each field's last value: a bay's battery stays known between the heartbeats
that report it. Every `URBANPULSE_INGEST_NOW_INTERVAL_S` the ingester writes from
it each district's statistics and ranked sensors per kind (`urbanpulse.now`,
docs/contract.md). On start it is seeded with the latest state's newest raw point
of each sensor, so a field only some messages carry comes back with the next
message that carries it.

A snapshot is stamped with the time the readings have reached (device time: the
newest reading time written; never after the ingester's own clock, and always
after the snapshot before). A sensor whose clock runs ahead moves it early by as
much (the ingester's `URBANPULSE_INGEST_MAX_FUTURE_S` bounds that live). Live,
that is a moment ago; while history is backfilled or replayed in time order, it
is the time the history has reached, and the ingester writes a snapshot each
time that moved `CATCH_UP_S` (`ingest.keeper`), so a dashboard over a past range
of it finds one. "Now" for
the recency of a sensor and for the refresh of the ranks is that stamp; a sensor
is "now" while its newest reading is within its kind's `SensorKind.now_s` (6 h,
or three of the kind's intervals) or three of its own intervals (its birth's
`interval_s`: a bay or a cover that reports on change and heartbeats daily).

A kind's cumulative metrics (an energy meter's registers) also get a running
total per district, `X_rise`: the sum of every rise of each sensor's register
from its previous reading (a fall, a reset or rollover, counts nothing, as
`non_negative_difference` does). The difference of two snapshots' `X_rise` is
what the district's meters counted between them, whichever meters were "now";
on start the totals go on from the last snapshot's (`seed_rises`).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from ingest.rollups import rollup_fields
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.spec import NOW_INTERVALS, Ranking, SensorKind
from urbanpulse.lineprotocol import FieldValue, encode_point
from urbanpulse.messages import AttributeValue, Reading
from urbanpulse.now import REFRESH_S, TOP_N, now_measurement, top_measurement

Last = list[Any]
"""[ts, {field: value}]: a sensor's newest reading time and each field's last value."""
_Held = tuple[str, int] | None
"""What a rank holds as last written: the sensor and its newest reading time, or nothing."""
_first = itemgetter(0)


class NowState:
    """The last values of each sensor by district and kind, and the snapshot of them."""

    def __init__(self, intervals: Mapping[str, int] | None = None) -> None:
        self._intervals = intervals if intervals is not None else {}
        """Each sensor's reporting interval from its birth, seconds (`ingest.census`)."""
        self._groups: dict[tuple[str, str], dict[str, Last]] = {}
        self._ranks: dict[tuple[str, str, str, int], _Held] = {}
        self._refresh_due_ms = 0
        self._newest = 0
        """The time the readings have reached: the newest reading time written or
        seeded, epoch ms."""
        self._stamped = 0
        """The stamp of the last snapshot written."""
        self._rises: dict[tuple[str, str], dict[str, float]] = {}
        """Per district and kind, each cumulative field's running sum of rises."""
        self._cumulative: dict[str, tuple[str, ...]] = {}
        """Each kind's cumulative metrics by kind name (`SensorKind.cumulative`), kept as
        readings of it come: a look-up per reading instead of a walk of its metrics."""

    def written(self, readings: Sequence[Reading | None],
                derived: Sequence[Mapping[str, FieldValue] | None]) -> None:
        """Keep the fields of written readings (None: a point that is not a reading); a
        reading older than the sensor's newest changes nothing."""
        groups = self._groups
        newest = self._newest
        cumulative = self._cumulative
        for reading, extra in zip(readings, derived, strict=True):
            if reading is None or extra is None:
                continue
            newest = max(newest, reading.ts)
            sensors = groups.get((reading.district, reading.kind))
            if sensors is None:
                sensors = groups[reading.district, reading.kind] = {}
            last = sensors.get(reading.sensor)
            if last is None:
                sensors[reading.sensor] = [reading.ts, {**reading.values, **extra}]
            elif last[0] <= reading.ts:
                rising = cumulative.get(reading.kind)
                if rising is None:
                    spec = KINDS.get(reading.kind)
                    rising = cumulative[reading.kind] = () if spec is None else spec.cumulative
                if rising:
                    self._rise(reading, last[1], rising)
                last[0] = reading.ts
                last[1].update(reading.values)
                last[1].update(extra)
        self._newest = newest

    def _rise(self, reading: Reading, before: Mapping[str, Any], fields: tuple[str, ...]
              ) -> None:
        totals = self._rises.setdefault((reading.district, reading.kind), {})
        for name in fields:
            value, previous = reading.values.get(name), before.get(name)
            if value is not None and previous is not None and value > previous:
                totals[name] = totals.get(name, 0.0) + (value - previous)

    def seed_rises(self, kind: str, district: str, totals: Mapping[str, float]) -> None:
        """Go on from the running totals of the last snapshot written before a start."""
        self._rises.setdefault((district, kind), {}).update(totals)

    def seed(self, kind: str, district: str, sensor: str, ts: int,
             values: Mapping[str, AttributeValue]) -> None:
        """Keep a sensor's newest reading read back at start, unless a newer one is held."""
        sensors = self._groups.setdefault((district, kind), {})
        last = sensors.get(sensor)
        if last is None or last[0] < ts:
            sensors[sensor] = [ts, dict(values)]
        self._newest = max(self._newest, ts)

    def ahead(self, span_ms: int, clock_ms: int) -> bool:
        """Tell whether the next snapshot's stamp would be `span_ms` or more after the last
        one's (history is arriving faster than it happened)."""
        return min(self._newest, clock_ms) - self._stamped >= span_ms

    def points(self, clock_ms: int) -> list[str]:
        """Return the snapshot's points of every district and kind held (none before a
        reading), stamped as the module says with the ingester's clock at `clock_ms`.

        Each group's statistics; of its rankings, the ranks whose sensor or reading
        changed since they were last written, or all held ranks every `REFRESH_S`.
        """
        if not self._groups:
            return []
        now_ms = self._stamped = max(min(self._newest, clock_ms), self._stamped + 1)
        refresh = now_ms >= self._refresh_due_ms
        if refresh:
            self._refresh_due_ms = now_ms + REFRESH_S * 1000
        lines = []
        intervals = self._intervals
        for (district, name), sensors in sorted(self._groups.items()):
            kind = KINDS.get(name)
            if kind is None:  # unregistered since (tests register kinds of their own)
                continue
            since = now_ms - kind.now_s * 1000
            current = [(sensor, last) for sensor, last in sensors.items() if last[0] >= since
                       or last[0] >= now_ms - NOW_INTERVALS * 1_000 * intervals.get(sensor, 0)]
            fields = statistics(kind, [last[1] for _, last in current])
            rises = self._rises.get((district, name), {})
            for field in kind.cumulative:
                fields[f"{field}_rise"] = rises.get(field, 0.0)
            lines.append(encode_point(now_measurement(name), {"district": district}, fields,
                                      now_ms))
            for ranking in kind.ranked:
                lines += self._ranked(district, kind, ranking, current, now_ms, refresh)
        return lines

    def _ranked(self, district: str, kind: SensorKind, ranking: Ranking,
                current: list[tuple[str, Last]], now_ms: int, refresh: bool) -> list[str]:
        by = ranking.field
        pick = heapq.nsmallest if ranking.lowest else heapq.nlargest
        best = pick(TOP_N, [(last[1][by], sensor, last) for sensor, last in current
                            if by in last[1]], key=_first)
        lines = []
        for rank in range(TOP_N):
            held: _Held = (best[rank][1], best[rank][2][0]) if rank < len(best) else None
            key = (district, kind.name, by, rank)
            before = self._ranks.get(key)
            if held == before and (held is None or not refresh):
                continue
            self._ranks[key] = held
            fields: dict[str, FieldValue] = {"sensor": ""} if held is None else {
                "sensor": held[0], **best[rank][2][1]}
            lines.append(encode_point(top_measurement(kind.name), {
                "district": district, "by": by, "rank": f"{rank + 1:02d}"}, fields, now_ms))
        return lines


def statistics(kind: SensorKind, values: list[dict[str, Any]]) -> dict[str, FieldValue]:
    """Return `sensors`; each numeric field's sum, min, max, sensors and nonzero count; and
    each tally's count of sensors by their last value."""
    fields: dict[str, FieldValue] = {"sensors": len(values)}
    for name in rollup_fields(kind):  # the metrics, numeric and boolean derived fields
        column = [value[name] for value in values if name in value]
        if column:
            fields[f"{name}_sum"] = float(sum(column))
            fields[f"{name}_min"] = float(min(column))
            fields[f"{name}_max"] = float(max(column))
            fields[f"{name}_sensors"] = len(column)
            fields[f"{name}_nonzero"] = len(column) - column.count(0)
    for tally in kind.tallies.values():
        column = [value[tally.field] for value in values if tally.field in value]
        least = tally.at_least
        fields[tally.name] = len(column) if least is None else sum(
            1 for one in column if one >= least)
    return fields
