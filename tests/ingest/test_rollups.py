"""Rollups at ingest: folding, duplicates, late readings, and a real crash checked against InfluxQL.

The built-in kinds report once a minute or less often, so they get no per-sensor
minute rollup; the tests of those points use `FAST_AIR`, air as if its monitors
reported every 10 s. The crash test SIGKILLs a real `urbanpulse ingest` mid-stream
and restarts it; afterwards every `noise_1h`, `noise_district_1m` and
`noise_district_1h` point must equal InfluxQL's own aggregate of the raw points
(mean, min, max, count, sensors), and there is no `noise_1m`.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ingest.rollups import (
    HOUR,
    MINUTE,
    NO_WATERMARK,
    Rollups,
    raw_points,
    recomputed,
    rollup_fields,
)
from ops import stack
from tests.conftest import influx_rows, publish_all, wait_until
from tests.ingest.processes import (
    DISTRICT,
    Closer,
    IngestProcess,
    Message,
    StreamPublisher,
    count_readings,
    holds_readings,
    ingest_env,
)
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.spec import Metric, SensorKind, Tally, metrics, tallies
from urbanpulse.messages import Reading
from urbanpulse.settings import IngestSettings, load

NOW = 1_800_000_000_000  # an hour start: 2027-01-15 08:00 UTC
FAST_AIR = replace(KINDS["air"], interval_s=10)
"""Air as if its monitors reported every 10 s: a kind whose sensors' minutes are rolled up."""


def _air(sensor: str, ts: int, pm25: float, district: str = "pudong") -> Reading:
    return Reading(v=1, sensor=sensor, kind="air", district=district, ts=ts, seq=ts // 1000,
                   values={"pm25": pm25, "o3": 40.0})


def _raw(kind: SensorKind, **values: float) -> list[float]:
    """Return a raw point's values in the order of the kind's rollup fields (NaN: absent)."""
    return [values.get(name, math.nan) for name in rollup_fields(kind)]


def _started(lateness_ms: int, watermark: int, kinds: Iterable[SensorKind] | None = None
             ) -> Rollups:
    """Return rollups as after a start with raw points up to `watermark` (none to reseed)."""
    rollups = Rollups(lateness_ms=lateness_ms, kinds=kinds)
    rollups.watermark = watermark
    return rollups


def _fields(line: str) -> tuple[str, dict[str, str], int]:
    """Split one line of protocol into its series key, fields and time."""
    key, fields, stamp = line.split(" ")
    return key, dict(field.split("=") for field in fields.split(",")), int(stamp)


def _points(lines: list[str]) -> dict[tuple[str, int], dict[str, str]]:
    return {(key, stamp): fields for key, fields, stamp in map(_fields, lines)}


def test_a_minute_holds_mean_min_max_and_count_of_each_field_per_sensor_and_district() -> None:
    rollups = _started(60_000, NOW, [FAST_AIR])
    readings = [_air("air-pudong-0001", NOW + 1_000, 10.0),
                _air("air-pudong-0001", NOW + 31_000, 20.0),
                _air("air-pudong-0002", NOW + 2_000, 60.0)]
    rollups.written(readings, [{"aqi": 10}, {"aqi": 30}, {}], NOW + 40_000)
    points = _points(rollups.lines(hours=True))
    one = points["air_1m,district=pudong,sensor=air-pudong-0001", NOW]
    assert (one["pm25_mean"], one["pm25_min"], one["pm25_max"], one["count"]) == (
        "15.0", "10.0", "20.0", "2i")
    assert (one["aqi_mean"], one["aqi_min"], one["aqi_max"]) == ("20.0", "10.0", "30.0")
    assert "pm10_mean" not in one, "a field no reading carried is left out"
    district = points["air_district_1m,district=pudong", NOW]
    assert (district["pm25_mean"], district["pm25_min"], district["pm25_max"]) == (
        "30.0", "10.0", "60.0")
    assert (district["count"], district["sensors"], district["aqi_mean"]) == ("3i", "2i", "20.0")
    hour = points["air_1h,district=pudong,sensor=air-pudong-0002", NOW]
    assert (hour["pm25_mean"], hour["count"]) == ("60.0", "1i")


def test_a_kind_reporting_once_a_minute_or_less_has_no_per_sensor_minutes() -> None:
    rollups = _started(60_000, NOW)
    readings = [_air("air-pudong-0001", NOW + 1_000, 10.0),
                _air("air-pudong-0001", NOW + 31_000, 20.0),  # a clock running fast
                _air("air-pudong-0002", NOW + 2_000, 60.0)]
    rollups.written(readings, [{"aqi": 10}, {"aqi": 30}, {}], NOW + 40_000)
    points = _points(rollups.lines(hours=True))
    assert {key.split(",")[0] for key, _ in points} == {
        "air_1h", "air_district_1m", "air_district_1h"}
    district = points["air_district_1m,district=pudong", NOW]
    assert (district["pm25_mean"], district["count"], district["sensors"]) == (
        "30.0", "3i", "2i")
    rollups.written([_air("air-pudong-0001", NOW + 3 * MINUTE, 40.0)], [{}], NOW + 3 * MINUTE)
    closed = _points(rollups.lines(hours=True))  # the first minute closed into its hour
    assert {key.split(",")[0] for key, _ in closed} == {
        "air_1h", "air_district_1m", "air_district_1h"}
    hour = closed["air_1h,district=pudong,sensor=air-pudong-0001", NOW]
    assert (hour["pm25_mean"], hour["pm25_max"], hour["count"]) == ("23.333333333333332",
                                                                     "40.0", "3i")


def test_sums_add_the_readings_one_by_one_in_the_order_they_came() -> None:
    """A floating-point sum depends on its order: a sensor's is added reading by reading and
    a district's sensor by sensor, even when a batch holds several readings of a sensor.

    1e16 + 1 rounds back to 1e16, so added one by one the four 1s vanish; summed in
    pairs first (as numpy's `reduceat` does) they would show.
    """
    rollups = _started(60_000, NOW, [FAST_AIR])
    first = [_air("air-pudong-0001", NOW + 1_000 * n, value)
             for n, value in enumerate([1e16, 1.0, 1.0, 1.0, 1.0], 1)]
    others = [_air(f"air-pudong-000{n}", NOW + 10_000, 1.0) for n in range(2, 6)]
    rollups.written(first + others, [{}] * 9, NOW + 20_000)
    points = _points(rollups.lines(hours=False))
    sensor = points["air_1m,district=pudong,sensor=air-pudong-0001", NOW]
    assert float(sensor["pm25_mean"]) == 1e16 / 5
    district = points["air_district_1m,district=pudong", NOW]
    assert float(district["pm25_mean"]) == 1e16 / 9


def test_a_replayed_reading_counts_once_and_an_unchanged_bucket_is_not_rewritten() -> None:
    rollups = _started(60_000, NOW, [FAST_AIR])
    first = [_air("air-pudong-0001", NOW + 1_000, 10.0), _air("air-pudong-0001", NOW + 2_000, 30.0)]
    rollups.written(first, [{}, {}], NOW + 5_000)
    assert len(rollups.lines(hours=True)) == 4  # sensor and district, minute and hour
    assert rollups.lines(hours=True) == [], "nothing changed"
    rollups.written([first[1], first[1]], [{}, {}], NOW + 6_000)  # redelivered, twice
    assert rollups.lines(hours=True) == []
    rollups.written([_air("air-pudong-0001", NOW + 3_000, 50.0)], [{}], NOW + 7_000)
    minute = _points(rollups.lines(hours=False))[
        "air_1m,district=pudong,sensor=air-pudong-0001", NOW]
    assert (minute["count"], minute["pm25_mean"]) == ("3i", "30.0")


def test_a_bucket_closes_once_the_watermark_passes_its_end_and_the_lateness() -> None:
    rollups = _started(30_000, NOW)
    rollups.written([_air("air-pudong-0001", NOW + 1_000, 10.0)], [{}], NOW + 2_000)
    rollups.lines(hours=True)
    rollups.written([_air("air-pudong-0001", NOW + 90_000, 20.0)], [{}], NOW + 91_000)
    assert set(rollups.kinds["air"].minutes) == {NOW, NOW + MINUTE}
    rollups.lines(hours=False)
    assert set(rollups.kinds["air"].minutes) == {NOW + MINUTE}, "closed at 60 + 30 s"
    rollups.written([_air("air-pudong-0001", NOW + 30_000, 40.0)], [{}], NOW + 92_000)
    assert set(rollups.recompute) == {("air", "pudong", NOW)}, "a late reading is recomputed"
    hour = _points(rollups.lines(hours=True))["air_1h,district=pudong,sensor=air-pudong-0001", NOW]
    assert hour["count"] == "2i", "the open hour holds the readings of its minutes only"
    rollups.written([_air("air-pudong-0001", NOW + 30_000, 40.0)], [{}], NOW + 92_000)
    assert rollups.lines(hours=True) == [], "a redelivered late reading is no live reading"
    assert rollups.settled(16) == []
    assert rollups.settled(16) == [("air", "pudong", NOW)], "its closed minutes, while open"
    later = NOW + HOUR + 31_000
    rollups.written([_air("air-pudong-0001", later, 30.0)], [{}], later)
    assert rollups.recompute == {}
    rollups.lines(hours=False)
    assert set(rollups.kinds["air"].hours) == {NOW + HOUR}
    assert set(rollups.recompute) == {("air", "pudong", NOW)}, "closed: recomputed from raw"


def test_without_a_watermark_history_is_rolled_up_in_memory_as_it_arrives() -> None:
    rollups = Rollups(lateness_ms=60_000, kinds=[FAST_AIR])
    assert rollups.reseed_from() is None
    rollups.written([_air("air-pudong-0001", NOW - 5 * HOUR, 10.0)], [{}], NOW)
    rollups.written([_air("air-pudong-0001", NOW - 5 * HOUR + 1_000, 30.0)], [{}], NOW)
    assert rollups.recompute == {}
    points = _points(rollups.lines(hours=True))
    assert points["air_1m,district=pudong,sensor=air-pudong-0001", NOW - 5 * HOUR][
        "count"] == "2i"


def test_a_reading_older_than_the_open_hours_is_left_to_a_recompute_from_raw_points() -> None:
    rollups = _started(60_000, NOW + 2 * HOUR)
    rollups.written([_air("air-pudong-0001", NOW + 5_000, 10.0)], [{}], NOW + 2 * HOUR)
    assert rollups.lines(hours=True) == []
    assert set(rollups.recompute) == {("air", "pudong", NOW)}
    assert rollups.settled(16) == [], "asked for in this pass: waits for more late readings"
    rollups.written([_air("air-pudong-0002", NOW + 6_000, 10.0)], [{}], NOW + 2 * HOUR)
    assert rollups.settled(16) == [], "asked for again"
    assert rollups.settled(16) == [("air", "pudong", NOW)]
    assert rollups.recompute == {}
    raw = [("air-pudong-0001", NOW + 5_000, _raw(KINDS["air"], pm25=10.0, aqi=20.0,
                                                   aqi_level=1.0)),
           ("air-pudong-0002", NOW + MINUTE + 5_000, _raw(KINDS["air"], pm25=30.0))]
    points = _points(recomputed(KINDS["air"], "pudong", NOW, raw, rollups.floors()))
    assert set(points) == {  # air reports every minute: no per-sensor minutes
        ("air_district_1m,district=pudong", NOW), ("air_district_1m,district=pudong", NOW + MINUTE),
        ("air_1h,district=pudong,sensor=air-pudong-0001", NOW),
        ("air_1h,district=pudong,sensor=air-pudong-0002", NOW),
        ("air_district_1h,district=pudong", NOW)}
    district = points["air_district_1h,district=pudong", NOW]
    assert (district["pm25_mean"], district["count"], district["sensors"]) == ("20.0", "2i", "2i")
    fast = _points(recomputed(FAST_AIR, "pudong", NOW, raw, rollups.floors()))
    assert set(fast) - set(points) == {
        ("air_1m,district=pudong,sensor=air-pudong-0001", NOW),
        ("air_1m,district=pudong,sensor=air-pudong-0002", NOW + MINUTE)}


def test_the_duplicate_check_is_bounded_by_the_open_minutes_over_hours_of_readings() -> None:
    """Three hours of 50 sensors every 5 s, each batch redelivered once: the duplicate check
    holds the readings of the open minutes only, and nothing is counted twice."""
    rollups = _started(60_000, NOW)
    sensors = [f"air-pudong-{n:04d}" for n in range(50)]
    per_minute = len(sensors) * (MINUTE // 5_000)
    largest = 0
    written: list[str] = []
    previous: list[Reading] = []
    for ts in range(NOW, NOW + 3 * HOUR, 5_000):
        batch = [_air(sensor, ts + n, 10.0 + n % 7) for n, sensor in enumerate(sensors)]
        rollups.written(previous + batch, [{}] * (len(previous) + len(batch)), ts + 1_000)
        previous = batch
        written += rollups.lines(hours=ts % (5 * MINUTE) == 0)
        largest = max(largest, sum(len(keys) for keys in rollups.kinds["air"]._seen.values()))
    open_minutes = 60_000 // MINUTE + 2  # the lateness, the minute the watermark is in, one closing
    assert largest <= open_minutes * per_minute, "the duplicate check grew past the open minutes"
    assert rollups.recompute == {}, "no reading arrived after its minute closed"
    points = _points(written)  # the last point of each bucket
    for hour in (NOW, NOW + HOUR):
        assert points["air_district_1h,district=pudong", hour]["count"] == f"{60 * per_minute}i"
    minutes = [fields for (key, _), fields in points.items()
               if key == "air_district_1m,district=pudong"]
    assert len(minutes) >= 2 * 60
    assert {fields["count"] for fields in minutes} == {f"{per_minute}i"}


def test_a_reseed_rewrites_every_bucket_and_checks_duplicates_in_the_open_minutes_only(
        ) -> None:
    rollups = _started(60_000, NOW + HOUR + 30 * MINUTE, [FAST_AIR])
    since = rollups.reseed_from()
    assert since == NOW
    rollup = rollups.kinds["air"]
    row = rollup.row("pudong", "air-pudong-0001")
    stamps = [NOW + 5_000, NOW + HOUR + 5_000, NOW + HOUR + 29 * MINUTE + 5_000]
    for ts in stamps:
        rollup.take_row(row, ts, _raw(FAST_AIR, pm25=10.0))
    rollups.fold(NO_WATERMARK, raw=True)
    assert set(rollup._seen) == {NOW + HOUR + 29 * MINUTE}, "only the open minute"
    rollups.written([_air("air-pudong-0001", ts, 10.0) for ts in stamps], [{}] * 3,
                    NOW + HOUR + 30 * MINUTE)  # redelivered after the restart
    assert set(rollups.recompute) == {("air", "pudong", NOW), ("air", "pudong", NOW + HOUR)}
    points = _points(rollups.lines(hours=False))
    assert points["air_1h,district=pudong,sensor=air-pudong-0001", NOW]["count"] == "1i"
    assert points["air_1m,district=pudong,sensor=air-pudong-0001", NOW + HOUR + 29 * MINUTE][
        "count"] == "1i", "the redelivery in the open minute is a duplicate"
    assert {start for _, start in points} == {NOW, NOW + HOUR, NOW + HOUR + 29 * MINUTE}, (
        "every reseeded minute, and the hour it closed, is written again")
    assert set(rollup.hours) == {NOW + HOUR}
    assert set(rollup._seen) == {NOW + HOUR + 29 * MINUTE}


def _noise(sensor: str, ts: int, laeq: float, district: str = "pudong") -> Reading:
    return Reading(v=1, sensor=sensor, kind="noise", district=district, ts=ts, seq=ts // 1000,
                   values={"laeq": laeq})


def _pressure(sensor: str, ts: int, mpa: float) -> Reading:
    return Reading(v=1, sensor=sensor, kind="pressure", district="pudong", ts=ts,
                   seq=ts // 1000, values={"pressure_mpa": mpa})


def test_a_boolean_is_a_share_and_a_true_count_and_a_tally_counts_readings_carrying_a_field(
        ) -> None:
    rollups = _started(60_000, NOW)
    limited = {"noise_limit_db": 55.0, "noise_exceeds_limit": True}
    readings = [_noise("noise-pudong-0001", NOW + 1_000, 60.0),
                _noise("noise-pudong-0001", NOW + 2_000, 50.0),
                _noise("noise-pudong-0001", NOW + 3_000, 58.0),  # no zone: no limit
                _noise("noise-pudong-0002", NOW + 4_000, 40.0)]
    rollups.written(readings, [limited, {**limited, "noise_exceeds_limit": False}, {},
                               {**limited, "noise_exceeds_limit": False}], NOW + 5_000)
    points = _points(rollups.lines(hours=True))
    one = points["noise_1h,district=pudong,sensor=noise-pudong-0001", NOW]
    assert (one["count"], one["noise_limit_db_count"], one["noise_exceeds_limit_true"]) == (
        "3i", "2i", "1i")
    assert one["noise_exceeds_limit_mean"] == "0.5", "the share of the readings carrying it"
    assert "noise_exceeds_limit_min" not in one, "a boolean has no min or max"
    district = points["noise_district_1h,district=pudong", NOW]
    assert (district["count"], district["noise_limit_db_count"],
            district["noise_exceeds_limit_true"], district["sensors"]) == ("4i", "3i", "1i", "2i")
    assert math.isclose(float(district["noise_exceeds_limit_mean"]), 1 / 3)


def test_a_boolean_no_reading_carried_is_left_out_and_a_tally_of_none_is_zero() -> None:
    rollups = _started(60_000, NOW)
    rollups.written([_noise("noise-pudong-0003", NOW + 1_000, 45.0)], [{}], NOW + 2_000)
    hour = _points(rollups.lines(hours=True))[
        "noise_1h,district=pudong,sensor=noise-pudong-0003", NOW]
    assert hour["noise_limit_db_count"] == "0i"
    assert "noise_exceeds_limit_true" not in hour
    assert "noise_exceeds_limit_mean" not in hour


def test_a_threshold_tally_counts_readings_at_or_above_its_level() -> None:
    rollups = _started(60_000, NOW)
    values = (0.10, 0.14, 0.2, 0.139)
    rollups.written([_pressure("pressure-pudong-0001", NOW + n * 1_000, mpa)
                     for n, mpa in enumerate(values)], [{}] * len(values), NOW + 5_000)
    rollups.written([_pressure("pressure-pudong-0001", NOW + MINUTE, 0.5)], [{}], NOW + MINUTE)
    points = _points(rollups.lines(hours=True))
    minute = points["pressure_district_1m,district=pudong", NOW]
    assert (minute["count"], minute["pressure_service_count"]) == ("4i", "2i")
    hour = points["pressure_district_1h,district=pudong", NOW]
    assert (hour["count"], hour["pressure_service_count"]) == ("5i", "3i")


def test_a_closed_hour_recomputed_from_raw_points_keeps_its_boolean_and_tally() -> None:
    rollup = Rollups(lateness_ms=60_000).kinds["noise"]
    columns = ["time", "district", "sensor", "laeq", "noise_exceeds_limit", "noise_limit_db",
               "seq"]
    rows = [[NOW + 1_000, "pudong", "noise-pudong-0001", 60.0, True, 55.0, 1],
            [NOW + 2_000, "pudong", "noise-pudong-0001", 50.0, False, 55.0, 2],
            [NOW + 3_000, "pudong", "noise-pudong-0001", 50.0, None, None, 3]]
    raw = [(sensor, ts, values) for _, sensor, ts, values in
           raw_points(rollup.fields, columns, rows)]
    points = _points(recomputed(KINDS["noise"], "pudong", NOW, raw, (NOW + HOUR, NOW + HOUR)))
    hour = points["noise_1h,district=pudong,sensor=noise-pudong-0001", NOW]
    assert (hour["count"], hour["noise_limit_db_count"], hour["noise_exceeds_limit_true"],
            hour["noise_exceeds_limit_mean"]) == ("3i", "2i", "1i", "0.5")


@pytest.mark.parametrize("tally", [
    Tally("level_mean", "level", "named like a rollup field"),
    Tally("wet", "rain", "of a field the kind does not have"),
    Tally("count", "level", "named like the readings' count"),
])
def test_a_kind_refuses_a_tally_it_cannot_keep(tally: Tally) -> None:
    with pytest.raises(ValueError, match="tally"):
        SensorKind(name="tank", title="Tank", description="A tank", interval_s=60,
                   fiware_type="Device", metrics=metrics(Metric("level", "m", 0, 10, "Level")),
                   tallies=tallies(tally))


# -- a real crash ---------------------------------------------------------------------------


@pytest.fixture
def closing() -> Iterator[Closer]:
    """Register processes and clients to close (kill) at teardown, last first."""
    closer = Closer()
    yield closer
    closer.close_all()


def _stream(root: str, base: int, count: int, sensors: int) -> list[Message]:
    """Return `count` noise readings round-robin over `sensors`, half a second apart each."""
    out = []
    for n in range(count):
        seq = n // sensors
        name = f"noise-{DISTRICT}-{n % sensors:04d}"
        body = {"v": 1, "sensor": name, "kind": "noise", "district": DISTRICT,
                "ts": base + seq * 500, "seq": seq, "values": {"laeq": 40.0 + (n * 7) % 31}}
        out.append((f"{root}/readings/{DISTRICT}/noise/{name}", json.dumps(body).encode()))
    return out


def _key(row: dict[str, Any]) -> tuple[str, int]:
    return row.get("sensor", ""), int(row["time"])


def _differences(url: str, db: str, since: int, until: int) -> list[str]:
    """Compare each rollup with InfluxQL's aggregate of the raw points; return what differs."""
    span = f'WHERE time >= {since}ms AND time < {until}ms'
    found = []
    for rollup, group in (("noise_1h", '1h), "sensor"'), ("noise_district_1m", "1m)"),
                          ("noise_district_1h", "1h)")):
        raw = influx_rows(url, db, 'SELECT mean("laeq"), min("laeq"), max("laeq"), '
                          f'count("laeq") FROM "noise" {span} GROUP BY time({group} fill(none)')
        rolled = {_key(row): row for row in influx_rows(
            url, db, f'SELECT * FROM "{rollup}" {span} GROUP BY "sensor"')}
        sensors: dict[int, int] = defaultdict(int)
        if rollup == "noise_district_1m":
            for row in influx_rows(url, db, f'SELECT count("laeq") FROM "noise" {span} '
                                   'GROUP BY time(1m), "sensor" fill(none)'):
                sensors[int(row["time"])] += 1
        if len(rolled) != len(raw):
            found.append(f"{rollup}: {len(rolled)} points for {len(raw)} raw buckets")
        for row in raw:
            got = rolled.get(_key(row))
            if got is None:
                found.append(f"{rollup}: no point for {_key(row)}")
                continue
            want = (row["count"], row["min"], row["max"])
            have = (got["count"], got["laeq_min"], got["laeq_max"])
            if have != want or not math.isclose(got["laeq_mean"], row["mean"], rel_tol=1e-9):
                found.append(f"{rollup} {_key(row)}: {have} mean {got['laeq_mean']}, raw "
                             f"{want} mean {row['mean']}")
            if rollup == "noise_district_1m" and got["sensors"] != sensors[int(row["time"])]:
                found.append(f"{rollup} {_key(row)}: {got['sensors']} sensors, raw "
                             f"{sensors[int(row['time'])]}")
    return found


async def test_rollups_after_a_sigkill_mid_stream_equal_the_aggregate_of_the_raw_points(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path, closing: Closer) -> None:
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=influx_db,
                     root=topic_root, ingest_rollup_interval_s=0.2,
                     ingest_rollup_hour_interval_s=0.5)
    ingest = closing(IngestProcess(env, tmp_path, mosquitto.port))
    ingest.start()
    # Device time from 90 s ago: the older minutes are closed by the time they arrive
    # (recomputed from raw points), the newer ones open (folded, deduplicated, reseeded).
    base = int(time.time() * 1000) - 90_000
    messages = _stream(topic_root, base, 8_000, sensors=50)
    publisher = closing(StreamPublisher(mosquitto.port, messages, rate=1_000).start())
    await wait_until(holds_readings(influxd.url, influx_db, 1_500), 60)

    ingest.kill()
    assert count_readings(influxd.url, influx_db) < len(messages), "not killed mid-stream"
    ingest.start()
    # What a redelivery after the crash does, for certain: readings InfluxDB already
    # has (reseeded into the rollups) arrive again.
    await asyncio.to_thread(publish_all, mosquitto.port, messages[:1_000])
    await asyncio.to_thread(publisher.wait_acked)
    await wait_until(holds_readings(influxd.url, influx_db, len(messages)), 90)
    since = base - base % HOUR
    until = base + 80_000 - (base + 80_000) % HOUR + HOUR

    await _settle(lambda: not _differences(influxd.url, influx_db, since, until), 60)
    assert _differences(influxd.url, influx_db, since, until) == []
    assert ingest.terminate(60) == 0
    assert _differences(influxd.url, influx_db, since, until) == []
    measurements = {row["name"] for row in influx_rows(influxd.url, influx_db,
                                                        "SHOW MEASUREMENTS")}
    assert {"noise_1h", "noise_district_1m", "noise_district_1h"} <= measurements
    assert "noise_1m" not in measurements, "noise reports every minute: no per-sensor minutes"


async def _settle(predicate: Callable[[], bool], timeout: float) -> None:
    """Wait until `predicate` holds or `timeout` passed; the caller asserts what it found."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(("variable", "value"), [
    ("URBANPULSE_INGEST_ROLLUP_INTERVAL_S", "0"),
    ("URBANPULSE_INGEST_ROLLUP_HOUR_INTERVAL_S", "-5"),
    ("URBANPULSE_INGEST_ROLLUP_LATENESS_S", "7200"),
    ("URBANPULSE_INGEST_STATE_INTERVAL_S", "soon")])
def test_a_bad_rollup_or_state_setting_stops_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load(IngestSettings)
