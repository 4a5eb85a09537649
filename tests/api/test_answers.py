"""The latest-state answers encoded once: the bytes the response models give, dropped on change."""

from __future__ import annotations

import random

from api.answers import SUMMARY_MAX_AGE_MS, HeldAnswers
from api.grid import Grid
from api.kind_views import distances
from api.live import LiveState
from api.models import LatestReading, Sensor, SensorDetail, SensorPage
from api.view_models import DistrictInfo, DistrictList
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
    sensors = [birth(f"parking-x-{n:05d}", lat=place[0] + rng.uniform(-0.3, 0.3),
                     lon=(place[1] + rng.uniform(-0.3, 0.3) + 180) % 360 - 180)
               for n, place in enumerate(places * 500)]
    grid = Grid(sensors)
    for place in places:
        for radius_m in (1, 800, 5_000, 50_000):
            scanned = sorted((metres, sensor.sensor) for metres, sensor in
                             distances(place, sensors, radius_m))
            assert sorted((metres, sensor.sensor) for metres, sensor
                          in grid.within(place, radius_m)) == scanned
            if radius_m == 50_000:
                assert scanned
