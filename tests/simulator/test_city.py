"""City profiles and the layout: counts, bounds, attributes, determinism, bad files."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from simulator.city import base_total, build_city, default_city, sensor_counts
from simulator.parts import layout
from simulator.profile import load_profile
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS, Metric, SensorKind, get_kind, register, unregister
from urbanpulse.kinds.manhole.layout import HEARTBEAT_S as COVER_HEARTBEAT_S
from urbanpulse.kinds.manhole.layout import POLL_S as COVER_POLL_S
from urbanpulse.kinds.parking.layout import BAY_HEARTBEAT_S, BAY_POLL_S
from urbanpulse.topics import check_name

SHANGHAI = load_profile("shanghai")
DISTRICTS = tuple(district.name for district in SHANGHAI.districts)
ID = re.compile(rf"({'|'.join(map(re.escape, KINDS))})-({'|'.join(DISTRICTS)})-\d{{4}}")
CELLS = len(sensor_counts(SHANGHAI))
"""The (district, kind) cells the profile counts: the fewest sensors a city can have."""
YANCHENG = (Path(__file__).parents[2] / "simulator/cities/yancheng.yaml").read_text()


def yancheng_line(text: str) -> int:
    """Return the 1-based line of the first line of yancheng.yaml that starts with `text`."""
    return next(number for number, line in enumerate(YANCHENG.splitlines(), 1)
                if line.startswith(text))


YANDU_COUNTS = yancheng_line("    counts: {parking: 12, ")
CBD, CBD_AIR = yancheng_line("  cbd:"), yancheng_line("    air_siting: {urban: 0.6, roadside: 0.4}")


def test_default_city_is_a_small_demo_city_with_every_kind_in_every_district() -> None:
    city = default_city(seed=42)
    assert len(city) == base_total(SHANGHAI)
    cells = Counter((spec.district, spec.kind) for spec in city)
    assert cells == Counter({(d.name, kind): count for d in SHANGHAI.districts
                             for kind, count in d.counts.items() if count})
    assert set(cells) == {(d, kind) for d in DISTRICTS for kind in KINDS}


@pytest.mark.parametrize("name", ["shanghai", "yancheng"])
def test_coordinates_lie_inside_their_district(name: str) -> None:
    profile = load_profile(name)
    boxes = {d.name: (d.lat, d.lon) for d in profile.districts}
    city = build_city(profile, scale=3, seed=1)
    for spec in city:
        (lat_low, lat_high), (lon_low, lon_high) = boxes[spec.district]
        assert lat_low <= spec.lat <= lat_high, spec
        assert lon_low <= spec.lon <= lon_high, spec
    assert {spec.district for spec in city} == set(boxes)


def test_yancheng_is_a_second_city_with_its_own_districts() -> None:
    city = default_city(seed=1, city="yancheng")
    assert {spec.district for spec in city} == {"tinghu", "yandu", "dafeng"}
    assert load_profile("yancheng").pollution < SHANGHAI.pollution


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


def test_intervals_follow_the_catalog_bays_and_the_cadence() -> None:
    demo, real = default_city(seed=42), default_city(seed=42, cadence="real")
    for spec in demo:
        if spec.attributes.get("device") == "bay":
            assert (spec.interval_s, spec.step_s) == (BAY_HEARTBEAT_S, BAY_POLL_S)
        elif spec.kind == "manhole":  # cover sensors report on change, with a daily heartbeat
            assert (spec.interval_s, spec.step_s) == (COVER_HEARTBEAT_S, COVER_POLL_S)
        else:
            assert spec.interval_s == spec.step_s == get_kind(spec.kind).interval_s
    water = {spec.attributes["station"]: spec.interval_s for spec in real if spec.kind == "water"}
    assert water == {"national": 4 * 3600, "micro": 2 * 3600}


def test_attributes_per_kind_follow_the_site_land_use() -> None:
    city = default_city(scale=4, seed=9)
    for spec in city:
        attributes = spec.attributes
        mixes = SHANGHAI.land_uses[str(attributes["site_use"])]
        if spec.kind == "parking":
            assert attributes["land_use"] in mixes["parking_use"]
            assert attributes["device"] in {"lot", "bay"}
            if attributes["device"] == "lot":
                assert 50 <= int(attributes["capacity"]) <= 2000
        elif spec.kind == "energy":
            assert attributes["building_type"] in mixes["building_type"]
            assert 5_000 <= int(attributes["floor_area_m2"]) <= 250_000
        elif spec.kind == "water":
            assert str(attributes["class_target"]) in mixes["water_class"]
        elif spec.kind == "noise":
            assert spec.zone == attributes["noise_zone"]
            assert spec.zone in mixes["noise_zone"]
        elif spec.kind == "air":
            assert attributes["siting"] in mixes["air_siting"]
            assert attributes["grade"] in {"reference", "low-cost"}
        assert set(attributes) <= set(get_kind(spec.kind).attributes), spec
    zones = Counter(spec.zone for spec in city if spec.kind == "noise")
    assert set(zones) >= {"1", "2", "3", "4a"}
    devices = Counter(spec.attributes.get("device") for spec in city if spec.kind == "parking")
    assert devices["bay"] > 0
    assert devices["lot"] > 0


def test_same_seed_same_city_other_seed_other_city() -> None:
    assert default_city(seed=5) == default_city(seed=5)
    assert default_city(seed=5) != default_city(seed=6)


def test_scale_multiplies_counts_and_keeps_one_per_cell() -> None:
    base = Counter((s.district, s.kind) for s in default_city(seed=1))
    doubled = Counter((s.district, s.kind) for s in default_city(scale=2, seed=1))
    assert doubled == Counter({cell: 2 * count for cell, count in base.items()})
    assert len(default_city(scale=0.001, seed=1)) == len(base) == CELLS
    assert sum(sensor_counts(SHANGHAI, scale=10).values()) == 10 * base_total(SHANGHAI)


@pytest.mark.parametrize("total", [CELLS, CELLS + 1, 100, base_total(SHANGHAI), 4321])
def test_sensors_targets_an_exact_total(total: int) -> None:
    city = default_city(sensors=total, seed=3)
    assert len(city) == total
    cells = Counter((spec.district, spec.kind) for spec in city)
    assert len(cells) == CELLS
    assert min(cells.values()) >= 1


def test_too_few_sensors_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=f"at least {CELLS} sensors"):
        default_city(sensors=CELLS - 1, seed=1)


def test_a_copied_profile_file_is_a_city(tmp_path: Path) -> None:
    text = Path(str(Path(__file__).parents[2] / "simulator/cities/yancheng.yaml")).read_text()
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("name: yancheng", "name: mine"))
    assert len(default_city(seed=1, city=str(path))) == len(default_city(seed=1, city="yancheng"))


@pytest.mark.parametrize(("edit", "message"), [
    (("lat: 33.385", "lat: 35.0"), "outside district tinghu"),
    (("land_use: port", "land_use: moon"), "unknown land use 'moon'"),
    (("districts:", "districtz:"), r"bad.yaml, line \d+: unknown field 'districtz'"),
    (("name: yancheng", "nome: yancheng"), "unknown field 'nome'"),
    (("calendar: china\n", ""), None),
    (("counts: {parking: 12, ", "counts: {parkin: 12, "),
     rf"bad.yaml, line {YANDU_COUNTS}: district yandu counts the unknown sensor kind 'parkin'; "
     rf"known kinds are {', '.join(sorted(KINDS))}\."),
    (("    air_siting: {urban: 0.6, roadside: 0.4}", "    air_sitting: {urban: 1}"),
     rf"bad.yaml, line {CBD_AIR}: land use cbd gives the unknown mix 'air_sitting'; the "
     r"kinds' mixes are air_siting, building_type"),
    (("    air_siting: {urban: 0.6, roadside: 0.4}\n", ""),
     rf"bad.yaml, line {CBD}: land use cbd misses the mix 'air_siting' that air sensors"),
    (("    bay_share: 0.4", "    bay_shore: 0.4"),
     r"bad.yaml, line 15: kind parking has no layout option 'bay_shore'; it has bay_share"),
    (("    bay_share: 0.4", "    bay_share: 1.4"), r"line 15: parking.bay_share must lie in 0..1"),
    (("  parking:\n    bay_share", "  parkin:\n    bay_share"),
     r"line 14: options for the unknown sensor kind 'parkin'"),
])
def test_bad_profile_is_a_config_error_naming_the_file(tmp_path: Path, edit: tuple[str, str],
                                                      message: str) -> None:
    text = (Path(__file__).parents[2] / "simulator/cities/yancheng.yaml").read_text()
    path = tmp_path / "bad.yaml"
    assert edit[0] in text
    path.write_text(text.replace(*edit))
    if message is None:  # an optional field
        load_profile(str(path))
        return
    with pytest.raises(ConfigError, match=message) as raised:
        load_profile(str(path))
    assert "bad.yaml" in str(raised.value)


def test_bay_share_option_sets_the_share_of_bays(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "simulator/cities/yancheng.yaml").read_text()
    path = tmp_path / "bays.yaml"
    path.write_text(text.replace("bay_share: 0.4", "bay_share: 1"))
    assert load_profile(str(path)).options["parking"] == {"bay_share": 1.0}
    city = default_city(seed=1, city=str(path))
    assert {s.attributes["device"] for s in city if s.kind == "parking"} == {"bay"}
    assert load_profile("shanghai").options["parking"] == {"bay_share": 0.5}


def test_every_kind_has_a_layout_drawing_its_declared_attributes() -> None:
    city = default_city(scale=2, seed=4)
    for name, kind in KINDS.items():
        assert callable(layout(name).place)
        drawn = {key for spec in city if spec.kind == name for key in spec.attributes}
        assert drawn == set(kind.attributes), name


def test_a_counted_kind_without_a_layout_stops_at_start_up(tmp_path: Path) -> None:
    register(SensorKind(name="teapot", title="Teapot", description="A teapot", interval_s=60,
                        fiware_type="Device",
                        metrics={"temp": Metric("temp", "°C", 0, 100, "Tea temperature")}))
    try:
        text = (Path(__file__).parents[2] / "simulator/cities/yancheng.yaml").read_text()
        path = tmp_path / "tea.yaml"
        path.write_text(text.replace("counts: {parking: 12, ", "counts: {teapot: 1, parking: 12, "))
        with pytest.raises(ConfigError, match="'teapot' has no layout"):
            load_profile(str(path))
    finally:
        unregister("teapot")
        layout.cache_clear()


def test_unknown_city_names_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="shanghai, yancheng"):
        load_profile("atlantis")
