"""Co-location calibration of low-grade sensors against the reference sensors of their district.

A kind that declares a `Colocation` (`urbanpulse.kinds.calibration`; air:
low-cost PM stations against the national-control ones) gets a
`KindCalibration`, which for every reading of the kind:

- takes it into the open hour: a calibrated sensor's sums of the corrected
  metrics and of the covariate, a reference sensor's into its district's;
- returns the reading's corrected values, inverting its district's current
  response (`Response`): the district's own fit once ready, the kind's
  default before (or while the fit lies outside the kind's limits).

An hour is paired once the newest reading (never ahead of the clock) is
`LATENESS_MS` past its end, whatever the sensors' reporting phases: each
calibrated sensor's hourly mean with the reference mean of its district over
the same hour, or of the whole city (this ingester's partition) when its
district had no reference reading that hour. The pairs of a district's calibrated sensors join one
`Fit` per metric, a least-squares fit whose pairs lose weight by
`Colocation.forget` per hour they age (an exponentially weighted window),
which is then solved again. One fit per district, not per sensor: units of a
model differ little from each other (facts §1.6: inter-unit CV < 7 %), far
less than the real PM of two sites of a district does, and a fit per sensor
would map every sensor onto its reference stations' level, erasing the
differences between sites a dense network is there to find
(docs/calibration.md has the numbers). A pair whose ratio lies outside the
gain limits (a dead, stuck or disturbed sensor) is left out of its district's
fit. A reading of an hour already paired (late, or redelivered) is corrected
but not paired.

Memory is one `Fit` per district and metric (eight numbers), whatever the
window; open hours hold a few sums per sensor and district, and only for the
hours not yet paired (two or three). On start `seed` rebuilds the fits from
the hourly rollups InfluxDB holds for the window (`{kind}_1h`: the same hourly
means the live pairs use), so a restart does not start the window again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final

from urbanpulse.influxql import Series, quote_identifier, tag_equals, time_from, where
from urbanpulse.kinds import KINDS, SensorKind, part
from urbanpulse.kinds.calibration import Colocation, Response
from urbanpulse.messages import AttributeValue, Reading
from urbanpulse.rollups import rollup_measurement

log = logging.getLogger(__name__)

HOUR: Final = 3_600_000
LATENESS_MS: Final = 300_000
"""How long past an hour's end its readings are waited for before it is paired."""
_NEVER: Final = 2**62
_DEGENERATE: Final = 1e-9
"""A fit whose normal matrix is this close to singular (relative to its diagonal) cannot
tell gain from growth."""
_FACE_VALUE: Final = 0
_REFERENCE: Final = 1
_CALIBRATED: Final = 2

ReadHistory = Callable[[Sequence[str], Callable[[int, Series], None]], Awaitable[None]]
"""Runs InfluxQL statements and hands each piece of a series to a callback
(`ingest.history.History.read`)."""


class Fit:
    """Least squares of `raw = gain · ref · (1 + growth · term)` over hourly pairs, older
    ones forgotten.

    Linear in `gain` and `gain · growth`, with the regressors `ref` and `ref · term`
    and no intercept. Kept as weighted sums of the pairs' products, each pair weighed
    by `forget` to the power of its age in hours: adding a pair is a dozen
    multiplications and solving a 2×2 system, whatever the window.
    """

    __slots__ = ("hour", "term_weight", "uu", "uy", "weight", "xu", "xx", "xy")

    def __init__(self) -> None:
        self.hour = -1
        self.weight = self.term_weight = 0.0
        """The pairs' weights, and those of the pairs with a term above 0."""
        self.xx = self.xu = self.uu = self.xy = self.uy = 0.0
        """Weighted sums of products of x = ref, u = ref · term and y = raw."""

    def add(self, hour: int, reference: float, term: float, raw: float, forget: float) -> None:
        """Add a pair of `hour`, not earlier than any added before."""
        if self.hour >= 0 and hour > self.hour:
            keep = forget ** (hour - self.hour)
            self.weight *= keep
            self.term_weight *= keep
            self.xx *= keep
            self.xu *= keep
            self.uu *= keep
            self.xy *= keep
            self.uy *= keep
        self.hour = hour
        u = reference * term
        self.weight += 1.0
        if term > 0.0:
            self.term_weight += 1.0
        self.xx += reference * reference
        self.xu += reference * u
        self.uu += u * u
        self.xy += reference * raw
        self.uy += u * raw

    def response(self, colocation: Colocation) -> Response | None:
        """Return the fitted response, or None while the pairs are too few, say nothing, or
        give a response outside the limits.

        The growth is fitted only once pairs without and with a term each weigh
        `min_term_pairs`: from humid hours alone, gain and growth trade off and
        the dry hours' correction goes wrong. Until then the gain is fitted with the
        default growth.
        """
        if self.weight < colocation.min_pairs:
            return None
        det = self.xx * self.uu - self.xu * self.xu
        if (min(self.term_weight, self.weight - self.term_weight) >= colocation.min_term_pairs
                and det > _DEGENERATE * self.xx * self.uu):
            gain = (self.xy * self.uu - self.uy * self.xu) / det
            slope = (self.uy * self.xx - self.xy * self.xu) / det
            if gain <= 0.0:
                return None
            found = Response(0.0, gain, slope / gain)
        else:
            growth = colocation.default.growth
            vv = self.xx + 2.0 * growth * self.xu + growth * growth * self.uu
            if vv <= 0.0:
                return None
            found = Response(0.0, (self.xy + growth * self.uy) / vv, growth)
        return found if colocation.limits.allow(found) else None


class _District:
    """The calibration of one district's calibrated sensors: a fit and the response in use
    per corrected metric."""

    __slots__ = ("fits", "own", "responses")

    def __init__(self, colocation: Colocation) -> None:
        count = len(colocation.corrected)
        self.fits = [Fit() for _ in range(count)]
        self.responses = [colocation.default] * count
        self.own = [False] * count


class _Sensor:
    """What the calibration knows of one sensor: its district and role, and where its
    readings of the hour it last reported in are summed."""

    __slots__ = ("covariate", "district", "hour", "pool", "role", "sums")

    def __init__(self, district: str, role: int, pool: _District | None) -> None:
        self.district = district
        self.role = role
        self.pool = pool
        """The calibration of its district, if it is a calibrated sensor."""
        self.covariate: float | None = None
        """The last covariate read, for a reading without one."""
        self.hour = -1
        self.sums: list[float] = []
        """The sums its readings of `hour` go to: its own if it is calibrated, its
        district's if it is a reference (`_Hour`)."""


class _Hour:
    """The sums of one open hour: per calibrated sensor `[Σm1, n1, Σm2, n2, …, Σcovariate,
    n]`, per district `[Σm1, n1, Σm2, n2, …]` of its reference sensors."""

    __slots__ = ("districts", "sensors")

    def __init__(self) -> None:
        self.sensors: dict[str, list[float]] = {}
        self.districts: dict[str, list[float]] = {}


def _mean(sums: list[float] | None, index: int) -> float | None:
    if sums is None or sums[2 * index + 1] == 0.0:
        return None
    return sums[2 * index] / sums[2 * index + 1]


class KindCalibration:
    """Pairs one kind's calibrated sensors with its reference sensors hour by hour, and
    corrects each reading with its district's current response."""

    def __init__(self, kind: SensorKind, colocation: Colocation) -> None:
        """Check the declaration against the kind.

        Raises:
            ValueError: It names a metric the kind lacks, or a corrected field the kind
                does not derive as a float.
        """
        for metric in (*colocation.corrected, colocation.covariate):
            if metric not in kind.metrics:
                raise ValueError(f"Kind {kind.name!r} calibrates with metric {metric!r}, "
                                 "which it does not report.")
        for field in colocation.corrected.values():
            declared = kind.derived.get(field)
            if declared is None or declared.type != "float":
                raise ValueError(f"Kind {kind.name!r} must declare its corrected field "
                                 f"{field!r} in SPEC.derived, as a float.")
        self.kind = kind.name
        self.colocation = colocation
        self.metrics = tuple(colocation.corrected)
        self._count = len(self.metrics)
        self._slots = tuple((metric, 2 * index) for index, metric in enumerate(self.metrics))
        """Each corrected metric with the place of its sum in an hour's sums (its count next)."""
        self._covariate = colocation.covariate
        self._term = colocation.term
        self._scale = 10.0 ** colocation.decimals
        self._sensors: dict[str, _Sensor] = {}
        self._districts: dict[str, _District] = {}
        self._open: dict[int, _Hour] = {}
        self._paired = -1  # the last hour paired: a reading of it or before is not taken
        self._due = _NEVER  # the watermark that pairs the oldest open hour

    def register(self, sensor: str, district: str, attributes: Mapping[str, AttributeValue]
                 ) -> None:
        """Learn a sensor's district and grade from its birth."""
        grade = attributes.get(self.colocation.attribute)
        role = (_REFERENCE if grade == self.colocation.reference
                else _CALIBRATED if grade == self.colocation.calibrated else _FACE_VALUE)
        known = self._sensors.get(sensor)
        if known is not None and known.role == role and known.district == district:
            return
        pool = None
        if role == _CALIBRATED:
            pool = self._districts.get(district)
            if pool is None:
                pool = self._districts[district] = _District(self.colocation)
        self._sensors[sensor] = _Sensor(district, role, pool)

    def correct(self, reading: Reading, now_ms: int) -> dict[str, float] | None:
        """Take one reading into its hour; return its corrected values by metric, or None
        when it is taken as it is (a reference sensor, or one of no declared grade)."""
        sensor = self._sensors.get(reading.sensor)
        if sensor is None or sensor.role == _FACE_VALUE:
            return None
        values = reading.values
        covariate = values.get(self._covariate)
        ts = reading.ts
        hour = ts // HOUR
        if hour > self._paired:
            if hour != sensor.hour:
                self._enter(sensor, reading.sensor, hour)
            sums = sensor.sums
            for metric, at in self._slots:
                value = values.get(metric)
                if value is not None:
                    sums[at] += value
                    sums[at + 1] += 1.0
            if covariate is not None and sensor.pool is not None:
                sums[-2] += covariate
                sums[-1] += 1.0
        if ts >= self._due and now_ms >= self._due:
            self._pair_until(min(ts, now_ms))
        pool = sensor.pool
        if pool is None:
            return None
        if covariate is None:
            covariate = sensor.covariate
        else:
            sensor.covariate = covariate
        term = self._term(covariate) if covariate is not None else 0.0
        corrected: dict[str, float] = {}
        for (metric, _), response in zip(self._slots, pool.responses, strict=True):
            raw = values.get(metric)
            if raw is not None:
                value = (raw - response.offset) / (response.gain * (1.0 + response.growth * term))
                # round(x · 10^d) / 10^d: x to d decimals (a halfway case may go either way),
                # in a third of the time of round(x, d).
                corrected[metric] = round(value * self._scale) / self._scale if value > 0.0 else 0.0
        return corrected

    def _enter(self, sensor: _Sensor, name: str, hour: int) -> None:
        """Point a sensor at its sums in `hour`, opening the hour if it is new."""
        bucket = self._open.get(hour)
        if bucket is None:
            bucket = self._open[hour] = _Hour()
            self._due = min(self._due, (hour + 1) * HOUR + LATENESS_MS)
        if sensor.pool is not None:
            sums = bucket.sensors.get(name)
            if sums is None:
                sums = bucket.sensors[name] = [0.0] * (2 * self._count + 2)
        else:
            sums = bucket.districts.get(sensor.district)
            if sums is None:
                sums = bucket.districts[sensor.district] = [0.0] * (2 * self._count)
        sensor.hour, sensor.sums = hour, sums

    def _pair_until(self, watermark: int) -> None:
        """Pair every open hour that ended `LATENESS_MS` or more before `watermark`."""
        for hour in sorted(self._open):
            if (hour + 1) * HOUR + LATENESS_MS > watermark:
                break
            self._pair(hour, self._open.pop(hour))
        self._due = (min(self._open) + 1) * HOUR + LATENESS_MS if self._open else _NEVER
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s calibration: %d of %d districts on their own fit, %d hours open",
                      self.kind, *self.fitted(), self.open_hours)

    def _pair(self, hour: int, bucket: _Hour) -> None:
        """Add the pairs of `hour` to the districts' fits and solve those again."""
        colocation = self.colocation
        low, high = colocation.limits.gain
        growth = colocation.default.growth
        self._paired = max(self._paired, hour)
        city = [sum(column) for column in zip(*bucket.districts.values(), strict=True)] \
            if bucket.districts else None
        touched: set[str] = set()
        for name, sums in bucket.sensors.items():
            sensor = self._sensors.get(name)
            if sensor is None or sensor.pool is None or sums[-1] == 0.0:
                continue
            term = colocation.term(sums[-2] / sums[-1])
            reference = bucket.districts.get(sensor.district)
            for index in range(self._count):
                raw = _mean(sums, index)
                truth = _mean(reference, index)
                if truth is None:
                    truth = _mean(city, index)
                if raw is None or truth is None or not (
                        low * truth * (1.0 + growth * term) <= raw
                        <= high * truth * (1.0 + growth * term)):
                    continue
                sensor.pool.fits[index].add(hour, truth, term, raw, colocation.forget)
                touched.add(sensor.district)
        for district in touched:
            pool = self._districts[district]
            for index, fit in enumerate(pool.fits):
                found = fit.response(colocation)
                pool.own[index] = found is not None
                pool.responses[index] = found if found is not None else colocation.default

    @property
    def open_hours(self) -> int:
        """Hours taken but not paired yet: two or three while readings come in time order."""
        return len(self._open)

    def fitted(self) -> tuple[int, int]:
        """Return how many districts correct every metric with their own fit, of those with
        calibrated sensors."""
        return sum(1 for pool in self._districts.values() if all(pool.own)), len(self._districts)

    def response(self, district: str, metric: str) -> Response | None:
        """Return the response a district's calibrated sensors are corrected with now, or None
        when the district has none."""
        pool = self._districts.get(district)
        return None if pool is None else pool.responses[self.metrics.index(metric)]

    def history_statement(self, now_ms: int, districts: Sequence[str]) -> str:
        """Return the query of the hourly rollups of the window before `now_ms` (of the
        partition's `districts`, or all when empty)."""
        fields = ", ".join(quote_identifier(f"{metric}_mean") for metric in
                           (*self.metrics, self.colocation.covariate))
        partition = "(" + " OR ".join(tag_equals("district", name) for name in districts) + \
            ")" if districts else ""
        since = now_ms - int(4 * self.colocation.window_h) * HOUR  # older pairs weigh < 2 %
        return (f'SELECT {fields}, "count" FROM '
                f"{quote_identifier(rollup_measurement(self.kind, 'sensor', '1h'))}"
                f"{where(time_from(since), f'time < {now_ms}ms', partition)}"
                ' GROUP BY "district", "sensor"')

    def take_history(self, series: Series, now_ms: int) -> None:
        """Take one series of `history_statement`'s answer into hours for `pair_history`.

        Only hours that ended `LATENESS_MS` before `now_ms` count: the hour open at a
        restart is paired from the readings that come after it.
        """
        name = series.tags.get("sensor", "")
        sensor = self._sensors.get(name)
        if sensor is None or sensor.role == _FACE_VALUE:
            return
        columns = {column: index for index, column in enumerate(series.columns)}
        means = [columns[f"{metric}_mean"] for metric in self.metrics]
        covariate, count = columns[f"{self.colocation.covariate}_mean"], columns["count"]
        for row in series.values:
            hour, readings = int(row[0]) // HOUR, row[count]
            if (hour + 1) * HOUR + LATENESS_MS > now_ms or not readings:
                continue
            bucket = self._open.get(hour)
            if bucket is None:
                bucket = self._open[hour] = _Hour()
            if sensor.pool is not None:
                sums = bucket.sensors.setdefault(name, [0.0] * (2 * self._count + 2))
                if row[covariate] is not None:
                    sums[-2] += float(row[covariate]) * readings
                    sums[-1] += readings
            else:
                sums = bucket.districts.setdefault(sensor.district, [0.0] * (2 * self._count))
            for index, column in enumerate(means):
                if row[column] is not None:
                    sums[2 * index] += float(row[column]) * readings
                    sums[2 * index + 1] += readings

    def pair_history(self) -> int:
        """Pair the hours `take_history` took, oldest first; return how many."""
        hours = sorted(self._open)
        for hour in hours:
            self._pair(hour, self._open.pop(hour))
        self._due = _NEVER
        return len(hours)


def calibrations() -> dict[str, KindCalibration]:
    """Return a calibration per registered kind that declares one (`calibration.py`).

    Raises:
        ValueError: A kind's `calibration.py` has no `CALIBRATION` of type Colocation, or
            it does not fit the kind.
    """
    found: dict[str, KindCalibration] = {}
    for name, kind in KINDS.items():
        module = part(kind, "calibration")
        if module is None:
            continue
        colocation = getattr(module, "CALIBRATION", None)
        if not isinstance(colocation, Colocation):
            raise ValueError(f"{module.__name__} must define CALIBRATION, a Colocation.")
        found[name] = KindCalibration(kind, colocation)
    return found


async def seed(found: Mapping[str, KindCalibration], read: ReadHistory, districts: Sequence[str],
               now_ms: int) -> None:
    """Rebuild the fits of `found` from the hourly rollups of their windows before `now_ms`.

    Call it after the partition's births are registered (the rollups do not say
    which sensor is of which grade) and before readings are taken.
    """
    if not found:
        return
    kinds = list(found.values())
    await read([calibration.history_statement(now_ms, districts) for calibration in kinds],
               lambda index, series: kinds[index].take_history(series, now_ms))
    for calibration in kinds:
        hours = calibration.pair_history()
        own, pooled = calibration.fitted()
        log.info("%s calibration rebuilt from %d hours of rollups: %d of %d districts on "
                 "their own fit", calibration.kind, hours, own, pooled)
