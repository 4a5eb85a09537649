"""The "now" snapshot: statistics and ranks from each sensor's last values (ingest/now.py).

Against real servers, `tests/test_dashboards.py` runs an ingester that writes
the snapshot every second and every "now" panel's query on what it wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ingest.now import NowState
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.panels import top
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, metrics
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading
from urbanpulse.now import CATCH_UP_S, REFRESH_S, TOP_N

NOW_MS = 1_780_000_000_000
HOUR_MS = 3_600_000


def reading(sensor: str, ts: int, kind: str = "parking", district: str = "pudong",
            **values: float) -> Reading:
    return Reading(v=1, sensor=sensor, kind=kind, district=district, ts=ts, seq=1,
                   values=values)


def take(state: NowState, *items: tuple[Reading, Mapping[str, FieldValue]]) -> None:
    state.written([item[0] for item in items], [item[1] for item in items])


def parse(line: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Return the measurement, tags and fields of a line the snapshot wrote (no escapes)."""
    key, fields, _ = line.split(" ")
    measurement, *pairs = key.split(",")
    tags = dict(pair.split("=", 1) for pair in pairs)
    values: dict[str, Any] = {}
    for pair in fields.split(","):
        name, value = pair.split("=", 1)
        values[name] = (value.strip('"') if value.startswith('"') else
                        int(value[:-1]) if value.endswith("i") else float(value))
    return measurement, tags, values


def points(state: NowState, now_ms: int = NOW_MS) -> list[tuple[str, dict[str, str],
                                                                 dict[str, Any]]]:
    return [parse(line) for line in state.points(now_ms)]


def statistics_of(found: list[tuple[str, dict[str, str], dict[str, Any]]], measurement: str,
                  district: str = "pudong") -> dict[str, Any]:
    (fields,) = [f for m, tags, f in found if m == measurement and tags["district"] == district]
    return fields


def test_the_statistics_are_over_each_sensors_last_values_now() -> None:
    state = NowState()
    take(state,
         (reading("lot-1", NOW_MS - 60_000, available_spot_number=10, total_spot_number=100,
                  occupancy=0.9), {}),
         (reading("lot-2", NOW_MS - 120_000, available_spot_number=0, total_spot_number=50,
                  occupancy=1.0), {}),
         # Silent for longer than parking's "now" (6 h): neither counted nor ranked.
         (reading("lot-3", NOW_MS - 7 * HOUR_MS, available_spot_number=5,
                  total_spot_number=20, occupancy=0.75), {}),
         (reading("bay-1", NOW_MS - 60_000, occupied=1, battery_mv=3_600), {}),
         (reading("lot-1", NOW_MS - 30_000, district="huangpu", available_spot_number=3,
                  total_spot_number=30, occupancy=0.9), {}))
    found = points(state)
    pudong = statistics_of(found, "parking_now")
    assert pudong["sensors"] == 3
    assert pudong["available_spot_number_sum"] == 10.0
    assert pudong["available_spot_number_min"] == 0.0
    assert pudong["available_spot_number_nonzero"] == 1
    assert pudong["total_spot_number_sum"] == 150.0
    assert pudong["total_spot_number_sensors"] == 2
    assert pudong["occupancy_max"] == 1.0
    assert pudong["occupied_sensors"] == 1
    assert statistics_of(found, "parking_now", "huangpu")["total_spot_number_sum"] == 30.0


def test_a_field_stays_known_between_the_messages_that_carry_it() -> None:
    state = NowState()
    take(state, (reading("bay-1", NOW_MS - 3_000, occupied=0, battery_mv=3_100), {}))
    take(state, (reading("bay-1", NOW_MS - 2_000, occupied=1), {}))
    # An older reading arriving late changes nothing.
    take(state, (reading("bay-1", NOW_MS - 5_000, occupied=0, battery_mv=2_000), {}))
    found = points(state)
    fields = statistics_of(found, "parking_now")
    assert (fields["occupied_sum"], fields["battery_mv_min"]) == (1.0, 3_100.0)
    (bay,) = [f for m, tags, f in found if m == "parking_top" and tags["by"] == "battery_mv"]
    assert bay == {"sensor": "bay-1", "occupied": 1.0, "battery_mv": 3_100.0}


def test_derived_fields_and_tallies_count_by_last_values() -> None:
    state = NowState()
    take(state, *((reading(f"gauge-{depth}", NOW_MS - 1_000, kind="ponding", depth_cm=depth),
                   {"stage": stage}) for depth, stage in ((0, 0), (6, 1), (30, 3), (40, 3))))
    fields = statistics_of(points(state), "ponding_now")
    assert (fields["flood_point_count"], fields["close_count"]) == (3, 2)
    assert (fields["stage_max"], fields["stage_nonzero"], fields["depth_cm_sum"]) == (3.0, 3, 76.0)


def test_a_kind_reporting_daily_counts_three_days_as_now() -> None:
    assert KINDS["manhole"].now_s == 3 * 86_400
    state = NowState()
    take(state, (reading("cover-1", NOW_MS - 2 * 86_400_000, kind="manhole", tilt_deg=20,
                         cover_open=1), {}))
    assert statistics_of(points(state), "manhole_now")["cover_open_sum"] == 1.0


def test_a_sensor_born_to_report_rarely_counts_three_of_its_intervals_as_now() -> None:
    assert KINDS["parking"].now_s == 6 * 3_600  # lots report every minute
    # "Now" is the newest reading time held: lot-2's, an hour before NOW_MS.
    intervals = {"bay-1": 86_400}  # a bay: on change, and a daily heartbeat
    state = NowState(intervals)
    take(state, (reading("bay-1", NOW_MS - 30 * HOUR_MS, occupied=1), {}),
         (reading("lot-1", NOW_MS - 8 * HOUR_MS, total_spot_number=100,
                  available_spot_number=10), {}),
         (reading("lot-2", NOW_MS - HOUR_MS, total_spot_number=100,
                  available_spot_number=40), {}))
    now = statistics_of(points(state), "parking_now")
    assert (now["sensors"], now["occupied_sum"], now["available_spot_number_sum"]) == (2, 1, 40)

    intervals["bay-1"] = 3_600  # born again to report hourly: a day and more is not now
    assert statistics_of(points(state, NOW_MS + 1), "parking_now")["sensors"] == 1


def ranks(found: list[tuple[str, dict[str, str], dict[str, Any]]], by: str
          ) -> dict[str, str]:
    return {tags["rank"]: fields["sensor"] for m, tags, fields in found
            if m.endswith("_top") and tags["by"] == by}


def test_ranks_are_written_when_they_change_and_every_refresh() -> None:
    state = NowState()
    take(state, *((reading(f"lot-{n}", NOW_MS - 1_000, occupancy=n / 100,
                           total_spot_number=100, available_spot_number=100 - n), {})
                   for n in range(1, TOP_N + 6)))
    first = ranks(points(state), "occupancy")
    assert first == {f"{rank:02d}": f"lot-{TOP_N + 6 - rank}" for rank in range(1, TOP_N + 1)}
    # Nothing changed: only the statistics are written again.
    later = points(state, NOW_MS + 15_000)
    assert [m for m, _, _ in later] == ["parking_now"]
    # A lot filling to the top moves every rank below it down one.
    take(state, (reading("lot-3", NOW_MS + 20_000, occupancy=0.99), {}))
    moved = ranks(points(state, NOW_MS + 30_000), "occupancy")
    assert moved == {f"{rank:02d}": sensor for rank, sensor in
                     enumerate(["lot-3", *(f"lot-{n}" for n in range(TOP_N + 5, 6, -1))], 1)}
    # Held ranks are written again once a refresh is due, unchanged or not: the time is
    # the readings' (a lot far down the ranking reports).
    take(state, (reading("lot-1", NOW_MS + REFRESH_S * 1000, occupancy=0.01), {}))
    assert len(ranks(points(state, NOW_MS + REFRESH_S * 1000), "occupancy")) == TOP_N


def test_a_rank_that_falls_vacant_is_written_empty_once() -> None:
    state = NowState()
    take(state, (reading("bay-1", NOW_MS - 1_000, occupied=1, battery_mv=3_000), {}),
         (reading("bay-2", NOW_MS - 6 * HOUR_MS + 60_000, occupied=0, battery_mv=3_500), {}))
    assert ranks(points(state), "battery_mv") == {"01": "bay-1", "02": "bay-2"}
    # Two minutes on (bay-1 reports), before a refresh is due, bay-2's last reading has
    # left the kind's six hours of "now".
    later = NOW_MS + 120_000
    take(state, (reading("bay-1", later, occupied=0), {}))
    assert ranks(points(state, later), "battery_mv") == {"01": "bay-1", "02": ""}
    assert ranks(points(state, later + 15_000), "battery_mv") == {}


def stamps(lines: list[str]) -> set[int]:
    return {int(line.rsplit(" ", 1)[1]) for line in lines}


def test_a_snapshot_is_stamped_with_the_newest_reading_time_held() -> None:
    state = NowState()
    assert state.points(NOW_MS) == []
    # A backfill: the readings are a day old, the snapshot is of their time.
    take(state, (reading("lot-1", NOW_MS - 86_400_000, occupancy=0.5), {}),
         (reading("lot-2", NOW_MS - 86_460_000, occupancy=0.6), {}))
    assert stamps(state.points(NOW_MS)) == {NOW_MS - 86_400_000}
    # Nothing newer: the next snapshot comes a millisecond after, not onto, the last.
    assert stamps(state.points(NOW_MS + 15_000)) == {NOW_MS - 86_399_999}
    # A clock running ahead does not stamp the snapshot in the future.
    take(state, (reading("lot-1", NOW_MS + 3_600_000, occupancy=0.7), {}))
    assert stamps(state.points(NOW_MS + 30_000)) == {NOW_MS + 30_000}


def test_a_ranking_must_name_a_numeric_field_once() -> None:
    fields = metrics(Metric("level", "m", 0, 1, "A level"))
    for ranked in ((Ranking("depth"),), (Ranking("level"), Ranking("level", lowest=True))):
        with pytest.raises(ValueError, match="ranks its sensors by"):
            SensorKind(name="tank", title="Tanks", description="Tanks", interval_s=60,
                       fiware_type="Device", metrics=fields, ranked=ranked)


def test_a_table_needs_the_ranking_it_reads() -> None:
    with pytest.raises(ValueError, match="does not rank its sensors by 'occupancy' lowest"):
        top(KINDS["parking"], {"occupancy": "occupancy"}, lowest=True)


def test_history_arriving_faster_than_it_happened_asks_for_a_snapshot_of_its_time() -> None:
    state = NowState()
    take(state, (reading("lot-1", NOW_MS - 86_400_000, occupancy=0.5), {}))
    assert state.ahead(CATCH_UP_S * 1000, NOW_MS)  # none written yet
    state.points(NOW_MS)
    take(state, (reading("lot-1", NOW_MS - 86_400_000 + CATCH_UP_S * 1000 - 1,
                         occupancy=0.6), {}))
    assert not state.ahead(CATCH_UP_S * 1000, NOW_MS)
    take(state, (reading("lot-1", NOW_MS - 86_400_000 + CATCH_UP_S * 1000, occupancy=0.7), {}))
    assert state.ahead(CATCH_UP_S * 1000, NOW_MS)
    # Live, a clock running ahead does not: the stamp would be the ingester's clock.
    take(state, (reading("lot-2", NOW_MS, occupancy=0.1), {}))
    state.points(NOW_MS)
    take(state, (reading("lot-1", NOW_MS + 3 * CATCH_UP_S * 1000, occupancy=0.8), {}))
    assert not state.ahead(CATCH_UP_S * 1000, NOW_MS + 15_000)


def test_each_district_sums_the_rises_of_its_registers() -> None:
    state = NowState()
    register = "total_active_energy_import"

    def meter(sensor: str, ts: int, value: float, district: str = "pudong") -> tuple[
            Reading, dict[str, FieldValue]]:
        return reading(sensor, ts, kind="energy", district=district, **{register: value}), {}

    take(state, meter("m1", NOW_MS - 3 * HOUR_MS, 100.0), meter("m2", NOW_MS - 3 * HOUR_MS, 50.0),
         meter("m3", NOW_MS - 3 * HOUR_MS, 7.0, district="huangpu"))
    take(state, meter("m1", NOW_MS - 2 * HOUR_MS, 110.0), meter("m2", NOW_MS - 2 * HOUR_MS, 55.5))
    take(state, meter("m1", NOW_MS - HOUR_MS, 3.0),  # replaced meter: the fall counts nothing
         meter("m1", NOW_MS - 4 * HOUR_MS, 0.0))  # older than its newest: changes nothing
    take(state, meter("m1", NOW_MS, 4.0))
    found = points(state)
    assert statistics_of(found, "energy_now")[f"{register}_rise"] == 10.0 + 5.5 + 1.0
    assert statistics_of(found, "energy_now", "huangpu")[f"{register}_rise"] == 0.0
    assert "hvac_kwh_rise" in statistics_of(found, "energy_now")  # every register, from 0

    restarted = NowState()  # a restart goes on from the last snapshot's totals
    restarted.seed_rises("energy", "pudong", {register: 16.5})
    restarted.seed("energy", "pudong", "m1", NOW_MS, {register: 4.0})
    take(restarted, meter("m1", NOW_MS + HOUR_MS, 6.0))
    assert statistics_of(points(restarted, NOW_MS + HOUR_MS), "energy_now")[
        f"{register}_rise"] == 18.5
