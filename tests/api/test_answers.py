"""The latest-state answers encoded once: the bytes the response models give, dropped on change."""

from __future__ import annotations

import itertools
import random
from typing import cast

import numpy as np

from api.answers import SUMMARY_MAX_AGE_MS, HeldAnswers
from api.grid import Grid, rounded
from api.influx import InfluxQuery
from api.kind_views import distances, list_near, views
from api.live import HeldQueries, LiveState
from api.models import LatestReading, Sensor, SensorDetail, SensorPage
from api.routes.views import answer_model
from api.view_models import DistrictInfo, DistrictList
from urbanpulse.kinds.summaries import DECIMALS, PRESENT_AHEAD_MS
from urbanpulse.messages import SensorState

TS = 1_763_769_300_000


def birth(sensor: str, *, district: str = "pudong", ts: int = TS, lat: float = 31.2,
          lon: float = 121.5) -> Sensor:
    return Sensor(sensor=sensor, kind="parking", district=district, site="lot «A»",
                  zone="commercial", lat=lat, lon=lon, interval_s=60,
                  attributes={"device": "lot", "capacity": 120, "ratio": 0.5, "open": True},
                  birth_ts=ts)


def reading(free: float, *, seq: int, ts: int = TS) -> SensorState:
    return SensorState(ts=ts, seq=seq, values={"total_spot_number": 120.0,
                                                "available_spot_number": free, "note": "x"})


def test_a_detail_is_the_bytes_of_its_response_model() -> None:
    live = LiveState(root="city", alert_key=None)
    lot = birth("parking-pudong-0001")
    live.add_birth(lot)
    assert live.answers.detail(lot, None) == \
        SensorDetail(**lot.model_dump(), latest=None).model_dump_json().encode()
    live.add_reading(lot.sensor, reading(7.5, seq=3))
    expected = SensorDetail(**lot.model_dump(), latest=LatestReading(
        ts=TS, seq=3, values={"total_spot_number": 120.0, "available_spot_number": 7.5}))
    assert live.answers.detail(lot, live.newest(lot.sensor)) == \
        expected.model_dump_json().encode()


def test_a_page_and_the_district_list_are_the_bytes_of_their_models() -> None:
    live = LiveState(root="city", alert_key=None)
    for n, district in enumerate(["pudong", "huangpu", "pudong"]):
        live.add_birth(birth(f"parking-{district}-{n:04d}", district=district))
    found = live.sensors(district="pudong")
    assert live.answers.page(found[1:2], total=2, limit=1, offset=1) == SensorPage(
        items=found[1:2], total=2, limit=1, offset=1).model_dump_json().encode()
    assert live.answers.districts(live.kinds_by_district()) == DistrictList(items=[
        DistrictInfo(district="huangpu", sensors={"parking": 1}),
        DistrictInfo(district="pudong", sensors={"parking": 2})]).model_dump_json().encode()


def test_a_newer_reading_or_birth_replaces_the_kept_answer_and_the_same_one_does_not() -> None:
    live = LiveState(root="city", alert_key=None)
    lot = birth("parking-pudong-0001")
    live.add_birth(lot)
    live.add_reading(lot.sensor, reading(10, seq=1))
    first = live.answers.detail(lot, live.newest(lot.sensor))
    version = live.version("pudong")
    live.add_reading(lot.sensor, reading(10, seq=1))
    assert live.version("pudong") == version
    assert live.answers.detail(lot, live.newest(lot.sensor)) is first
    live.add_reading(lot.sensor, reading(9, seq=2, ts=TS + 60_000))
    assert live.version("pudong") == version + 1
    assert b'"available_spot_number":9.0' in live.answers.detail(lot, live.newest(lot.sensor))
    moved = birth(lot.sensor, ts=TS + 1, lat=31.3)
    live.add_birth(moved)
    assert b'"lat":31.3' in live.answers.detail(moved, live.newest(lot.sensor))
    assert b"huangpu" not in live.answers.districts(live.kinds_by_district())
    live.add_birth(birth("parking-huangpu-0002", district="huangpu"))
    assert b'"district":"huangpu"' in live.answers.districts(live.kinds_by_district())


def test_a_summary_is_kept_for_its_version_and_its_age_only() -> None:
    answers = HeldAnswers()
    answers.keep_summary("pudong", b"{}", version=4, at_ms=TS)
    assert answers.summary("pudong", version=4, now_ms=TS + SUMMARY_MAX_AGE_MS) == b"{}"
    assert answers.summary("pudong", version=5, now_ms=TS) is None
    assert answers.summary("pudong", version=4, now_ms=TS + SUMMARY_MAX_AGE_MS + 1) is None
    assert answers.summary("huangpu", version=0, now_ms=TS) is None


def test_the_grid_finds_what_a_scan_of_every_sensor_finds() -> None:
    rng = random.Random(18)
    places = [(31.2, 121.4), (0.0, 179.99), (89.9, 10.0), (-33.9, 18.4)]
    sensors = [birth(f"parking-x-{n:05d}", ts=TS + rng.randrange(-5, 5),
                     lat=place[0] + rng.uniform(-0.3, 0.3),
                     lon=(place[1] + rng.uniform(-0.3, 0.3) + 180) % 360 - 180)
               for n, place in enumerate(places * 500)]
    grid = Grid(sensors)
    for place in places:
        for radius_m in (1, 800, 5_000, 50_000):
            scanned = sorted((metres, sensor.sensor) for metres, sensor in
                             distances(place, sensors, radius_m))
            assert sorted((metres, sensor.sensor) for metres, sensor
                          in grid.within(place, radius_m)) == scanned
            born = sorted((metres, sensor.sensor) for metres, sensor in
                          distances(place, [one for one in sensors if one.birth_ts <= TS],
                                    radius_m))
            assert sorted((metres, sensor.sensor) for metres, sensor
                          in grid.within(place, radius_m, until_ms=TS)) == born
            if radius_m == 50_000:
                assert born
                assert born != scanned


NO_INFLUX = cast(InfluxQuery, None)
"""The present's lists read memory only."""


def lot_reading(rng: random.Random, *, lot: bool) -> SensorState:
    """A reading of a lot or a bay, current or not at `TS`, a count or not."""
    ts = TS - rng.choice([0, 30_000, 180_000, 181_000, 1_800_000, 2_000_000]) \
        + rng.choice([0, 0, PRESENT_AHEAD_MS, PRESENT_AHEAD_MS + 1])
    values: dict[str, str | int | float | bool] = (
        {"total_spot_number": 120.0, "available_spot_number": float(rng.randrange(121))}
        if lot else {"occupied": float(rng.randrange(2))})
    if lot and rng.random() < 0.1:
        del values["available_spot_number"]  # not a count
    return SensorState(ts=ts, seq=rng.randrange(1, 1_000), values=values)


async def test_the_nearest_lots_from_arrays_are_those_made_one_by_one() -> None:
    """`LiveState.nearest` (arrays) and the kept items answer what `list_near` over every
    placed lot and the answer's model do, byte for byte, before and after readings change."""
    rng = random.Random(7)
    view = views()[("parking", "guidance")]
    live = LiveState(root="city", alert_key=None)
    lots = {}
    for n in range(1_500):
        lot = rng.random() < 0.7
        sensor = birth(f"parking-{rng.choice(['pudong', 'huangpu'])}-{n:04d}",
                       ts=TS - rng.choice([0, 0, 0, 60_000]) + rng.choice([0, 0, 1]),
                       lat=31.2 + rng.uniform(-0.2, 0.2), lon=121.5 + rng.uniform(-0.2, 0.2))
        live.add_birth(sensor.model_copy(update={
            "district": sensor.sensor.split("-")[1],
            "interval_s": rng.choice([60, 600]),
            "attributes": {**sensor.attributes, "device": "lot" if lot else "bay"}}))
        lots[sensor.sensor] = lot
        if rng.random() < 0.9:  # else no reading yet
            live.add_reading(sensor.sensor, lot_reading(rng, lot=lot))
    for n, dlat in enumerate((0.01, -0.01)):  # as far north as south: a tie, broken by id
        sensor = birth(f"parking-pudong-{9_998 + n}", lat=31.2 + dlat, lon=121.5)
        live.add_birth(sensor)
        live.add_reading(sensor.sensor, reading(float(n), seq=1))
    answer = answer_model("Guidance", view)
    for _ in range(2):
        for place in [(31.2, 121.5), (31.35, 121.6), (31.1, 121.31)]:
            for radius_m, district, at_ms, limit in itertools.product(
                    (1_000, 5_000, 50_000), (None, "pudong"), (TS, TS + 200_000), (1, 20, 500)):
                placed = live.within(place, radius_m, kind="parking", district=district,
                                     until_ms=at_ms, lists=view.lists)
                one_by_one = await list_near(HeldQueries(NO_INFLUX, live), "parking", view,
                                             placed, limit=limit, at_ms=at_ms)
                found, total = live.nearest(view, place, radius_m, kind="parking",
                                            district=district, until_ms=at_ms, at_ms=at_ms,
                                            limit=limit)
                expected = answer(items=one_by_one.items, total=one_by_one.total, at=at_ms)
                assert live.answers.near_page(view, found, total=total, at_ms=at_ms) \
                    == expected.__pydantic_serializer__.to_json(expected)
        assert one_by_one.total > 100  # the widest question of the last place
        for name in rng.sample(sorted(lots), 500):  # newer readings, or older ones refused
            live.add_reading(name, lot_reading(rng, lot=lots[name]))


def test_the_rounding_of_distances_at_once_is_round_s() -> None:
    rng = random.Random(4)
    values = [rng.uniform(0, 50_000) for _ in range(20_000)]
    values += [(n + 0.5) / 10**DECIMALS for n in range(0, 500_000_000, 9_999_937)]  # halves
    assert rounded(np.array(values)).tolist() == [round(value, DECIMALS) for value in values]
