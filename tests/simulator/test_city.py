"""The default city: layout, counts, attributes and determinism."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from simulator.city import DISTRICTS, KINDS, base_total, default_city, sensor_counts
from urbanpulse.catalog import get_kind
from urbanpulse.errors import ConfigError
from urbanpulse.topics import check_name

BOUNDS = {
    "pudong": ((31.15, 31.35), (121.50, 121.80)),
    "huangpu": ((31.19, 31.25), (121.46, 121.51)),
    "fengxian": ((30.85, 31.00), (121.40, 121.75)),
}
ID = re.compile(r"(air|energy|noise|parking|water)-(pudong|huangpu|fengxian)-\d{4}")


def test_default_city_is_a_small_demo_city_with_every_kind_in_every_district() -> None:
    city = default_city(seed=42)
    assert 150 <= len(city) <= 200
    assert len(city) == base_total()
    cells = Counter((spec.district, spec.kind) for spec in city)
    assert set(cells) == {(district, kind) for district in BOUNDS for kind in KINDS}


def test_coordinates_lie_inside_their_district() -> None:
    for spec in default_city(scale=3, seed=1):
        (lat_low, lat_high), (lon_low, lon_high) = BOUNDS[spec.district]
        assert lat_low <= spec.lat <= lat_high, spec
        assert lon_low <= spec.lon <= lon_high, spec


def test_sensor_ids_are_unique_valid_topic_names() -> None:
    city = default_city(seed=42)
    ids = [spec.sensor for spec in city]
    assert len(set(ids)) == len(ids)
    for spec in city:
        assert check_name(spec.sensor) == spec.sensor
        match = ID.fullmatch(spec.sensor)
        assert match is not None, spec.sensor
        assert match.groups() == (spec.kind, spec.district)
    assert "air-pudong-0007" in ids


def test_interval_comes_from_the_catalog() -> None:
    for spec in default_city(seed=42):
        assert spec.interval_s == get_kind(spec.kind).interval_s


def test_attributes_per_kind() -> None:
    city = default_city(scale=4, seed=9)
    for spec in city:
        attributes = spec.attributes
        if spec.kind == "parking":
            assert attributes["land_use"] in {"office", "retail", "residential", "hotel"}
            assert attributes["land_use"] == spec.zone
            capacity = attributes["capacity"]
            assert isinstance(capacity, int)
            assert 50 <= capacity <= 2000
        elif spec.kind == "energy":
            assert attributes["building_type"] in {"office", "mall", "hotel", "hospital",
                                                   "government"}
            area = attributes["floor_area_m2"]
            assert isinstance(area, int)
            assert 5_000 <= area <= 250_000
        elif spec.kind == "water":
            target = attributes["class_target"]
            assert isinstance(target, int)
            assert 2 <= target <= 5
        elif spec.kind == "noise":
            assert spec.zone in {"0", "1", "2", "3", "4a", "4b"}
        else:
            assert attributes["siting"] in {"urban", "roadside", "suburban"}
    assert {spec.zone for spec in city if spec.kind == "noise"} >= {"1", "2", "4a"}
    assert len({spec.site for spec in city}) >= 15


def test_same_seed_same_city_other_seed_other_city() -> None:
    assert default_city(seed=5) == default_city(seed=5)
    assert default_city(seed=5) != default_city(seed=6)


def test_scale_multiplies_counts_and_keeps_one_per_cell() -> None:
    base = Counter((s.district, s.kind) for s in default_city(seed=1))
    doubled = Counter((s.district, s.kind) for s in default_city(scale=2, seed=1))
    assert doubled == Counter({cell: 2 * count for cell, count in base.items()})
    tiny = default_city(scale=0.001, seed=1)
    assert len(tiny) == len(DISTRICTS) * len(KINDS)
    assert sum(sensor_counts(scale=10).values()) == 10 * base_total()


@pytest.mark.parametrize("total", [15, 16, 100, 163, 500, 4321])
def test_sensors_targets_an_exact_total(total: int) -> None:
    city = default_city(sensors=total, seed=3)
    assert len(city) == total
    cells = Counter((spec.district, spec.kind) for spec in city)
    assert len(cells) == 15
    assert min(cells.values()) >= 1


def test_sensors_keeps_the_city_proportions() -> None:
    counts = sensor_counts(sensors=1630)
    assert counts["pudong", "parking"] == 260
    assert counts["huangpu", "water"] == 30


def test_too_few_sensors_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at least 15 sensors"):
        default_city(sensors=14, seed=1)
