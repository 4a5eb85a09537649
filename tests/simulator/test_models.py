"""The kinds' value models: contract over the registry, then each kind's plausibility."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pytest

from simulator.city import Attribute, SensorSpec, default_city
from simulator.drivers import Drivers
from simulator.parts import simulated
from simulator.streams import random_stream
from tests.kinds.stormy import T0, Device, FakeDrivers, FixedRain
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS, Metric, SensorKind, get_kind, part, register, unregister
from urbanpulse.kinds.incidents import Episode
from urbanpulse.kinds.modelling import CST, FloatArray, MeasuringModel, Model
from urbanpulse.kinds.rain.model import INCIDENTS, RainModel
from urbanpulse.kinds.water.model import STANDARDS

CITY = default_city(scale=2, seed=11)


def at(year: int, month: int, day: int, hour: int) -> int:
    """Return the epoch second of a Shanghai local time."""
    return int(datetime(year, month, day, hour, tzinfo=CST).timestamp())


def model_for(kind: str, specs: Sequence[SensorSpec], seed: int = 1) -> Model:
    return simulated(kind).model(specs, random_stream(seed, kind), Drivers())


def specs(kind: str, n: int, *, zone: str = "", **attributes: Attribute) -> list[SensorSpec]:
    """Return `n` sensors of `kind` with the same zone and attributes."""
    return [SensorSpec(sensor=f"{kind}-pudong-{i:04d}", kind=kind, district="pudong",
                       site="lujiazui", lat=31.23, lon=121.51, zone=zone,
                       interval_s=get_kind(kind).interval_s, attributes=dict(attributes))
            for i in range(1, n + 1)]


def everything(kind: str) -> list[SensorSpec]:
    """Return the city's sensors of `kind` plus one of every category the model knows.

    The newer kinds' categories (positions, networks, site types) are all drawn in the
    scale-2 city already, so only the five first kinds get extra sensors.
    """
    extra: list[SensorSpec] = []
    if kind == "parking":
        for use in ("office", "retail", "residential", "hotel"):
            extra += specs(kind, 2, zone=use, land_use=use, capacity=1)
            extra += specs(kind, 2, zone=use, land_use=use, device="bay")
    elif kind == "energy":
        for building in ("office", "mall", "hotel", "hospital", "government"):
            extra += specs(kind, 1, zone=building, building_type=building, floor_area_m2=250_000)
    elif kind == "water":
        for target in (2, 3, 4, 5):
            extra += specs(kind, 1, zone="river", class_target=target)
    elif kind == "noise":
        for zone in ("0", "1", "2", "3", "4a", "4b"):
            extra += specs(kind, 1, zone=zone)
    elif kind == "air":
        for siting in ("urban", "roadside", "suburban"):
            extra += specs(kind, 1, zone=siting, siting=siting)
    return [spec for spec in CITY if spec.kind == kind] + extra


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_has_a_model_with_an_effect_per_incident_type(kind: str) -> None:
    parts = simulated(kind)
    assert callable(parts.model)
    assert set(parts.incidents) == set(KINDS[kind].incidents)
    assert all(effect.values or effect.knobs for effect in parts.incidents.values())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_kind_simulator_modules_import_only_the_contract(kind: str) -> None:
    for layer in ("layout", "model"):
        module = part(kind, layer)
        assert module is not None, (kind, layer)
        tree = ast.parse(inspect.getsource(module))
        imported = [node.module or "" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)]
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names]
        outside = [name for name in imported
                   if name.split(".")[0] in {"simulator", "ingest", "api", "grafana", "ops"}]
        assert not outside, (kind, layer, outside)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_model_reports_catalog_metrics_inside_their_ranges(kind: str) -> None:
    fleet = everything(kind)
    model = model_for(kind, fleet)
    metrics = get_kind(kind).metrics
    every = np.arange(len(fleet), dtype=np.intp)
    seen: set[str] = set()
    heard = np.zeros(len(fleet), dtype=bool)
    for month, day in ((1, 13), (4, 20), (7, 26), (10, 4)):  # a week in each season
        for step in range(7 * 24 // 5):
            t = at(2025, month, day, 0) + step * 5 * 3600 + 60 * step
            values = model.step(t, every)
            seen |= set(values)
            assert set(values) <= set(metrics)
            for name, array in values.items():
                assert array.shape == (len(fleet),)
                assert not np.isinf(array).any(), name
                heard |= ~np.isnan(array)
                array = array[~np.isnan(array)]  # noqa: PLW2901  (NaN: not reported)
                if not array.size:
                    continue
                low, high = metrics[name].low, metrics[name].high
                assert array.min() >= low, (name, array.min())
                assert array.max() <= high, (name, array.max())
    assert seen
    assert heard.all(), [fleet[i].sensor for i in np.flatnonzero(~heard)]  # none is mute


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_model_answers_for_the_due_subset_only(kind: str) -> None:
    fleet = [spec for spec in CITY if spec.kind == kind]
    model = model_for(kind, fleet)
    due = np.arange(1, len(fleet), 3, dtype=np.intp)
    for array in model.step(at(2025, 11, 24, 9), due).values():
        assert array.shape == due.shape


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_model_is_deterministic_for_its_generator(kind: str) -> None:
    fleet = [spec for spec in CITY if spec.kind == kind]
    every = np.arange(len(fleet), dtype=np.intp)
    runs: list[list[dict[str, FloatArray]]] = []
    for seed in (3, 3, 4):
        model = model_for(kind, fleet, seed)
        runs.append([model.step(at(2025, 11, 24, 8) + 3600 * h, every) for h in range(5)])
    for first, second in zip(runs[0], runs[1], strict=True):
        assert all(np.array_equal(first[name], second[name], equal_nan=True) for name in first)
    assert any(not np.array_equal(a[name], b[name], equal_nan=True)
               for a, b in zip(runs[0], runs[2], strict=True) for name in a)


def test_a_kind_without_a_model_or_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Unknown sensor kind 'traffic'; known kinds are air"):
        simulated("traffic")
    register(SensorKind(name="teapot", title="Teapot", description="A teapot", interval_s=60,
                        fiware_type="Device",
                        metrics={"temp": Metric("temp", "°C", 0, 100, "Tea temperature")}))
    try:
        with pytest.raises(ConfigError, match="'teapot' has no value model"):
            simulated("teapot")
    finally:
        unregister("teapot")
        simulated.cache_clear()


def test_model_names_a_missing_attribute() -> None:
    with pytest.raises(ValueError, match=r"parking-pudong-0001 .* 'land_use'"):
        model_for("parking", specs("parking", 1, capacity=100))


def mean(model: Model, t: int, n: int, metric: str) -> float:
    return float(model.step(t, np.arange(n, dtype=np.intp))[metric].mean())


def test_office_lots_fill_on_weekday_mornings_and_empty_at_night() -> None:
    lots = specs("parking", 30, zone="office", land_use="office", capacity=400, device="lot")
    model = model_for("parking", lots)
    night = mean(model, at(2025, 11, 24, 3), 30, "occupancy")
    morning = mean(model, at(2025, 11, 24, 10), 30, "occupancy")
    sunday = mean(model, at(2025, 11, 23, 10), 30, "occupancy")
    assert night < 0.15
    assert morning > 0.7
    assert night < sunday < morning


def test_parking_counts_agree() -> None:
    lots = [spec for spec in everything("parking") if spec.attributes.get("device") != "bay"]
    values = model_for("parking", lots).step(at(2025, 11, 24, 12), np.arange(len(lots)))
    total, available = values["total_spot_number"], values["available_spot_number"]
    assert (available <= total).all()
    assert np.allclose(values["occupancy"], 1 - available / total, atol=0.0006)


def test_noise_is_louder_by_day_than_by_night() -> None:
    for zone in ("1", "2", "4a"):
        monitors = specs("noise", 20, zone=zone)
        model = model_for("noise", monitors)
        night = mean(model, at(2025, 11, 25, 3), 20, "laeq")
        day = mean(model, at(2025, 11, 25, 14), 20, "laeq")
        assert day > night + 5, zone


def test_noise_statistical_levels_are_ordered() -> None:
    monitors = everything("noise")
    values = model_for("noise", monitors).step(at(2025, 11, 25, 9), np.arange(len(monitors)))
    assert (values["la90"] < values["laeq"]).all()
    assert (values["laeq"] < values["la10"]).all()
    assert (values["la10"] < values["lamax"]).all()


def test_dissolved_oxygen_is_lowest_near_dawn() -> None:
    stations = specs("water", 20, zone="river", class_target=3)
    model = model_for("water", stations)
    dawn = mean(model, at(2025, 7, 15, 5), 20, "dissolved_oxygen")
    afternoon = mean(model, at(2025, 7, 15, 15), 20, "dissolved_oxygen")
    assert dawn < afternoon - 0.8


def test_a_days_first_reading_carries_the_analysers_readings_of_their_standards() -> None:
    stations = specs("water", 20, zone="river", class_target=3)
    model = model_for("water", stations)
    assert isinstance(model, MeasuringModel)
    every = np.arange(len(stations), dtype=np.intp)
    midnight = at(2025, 7, 15, 0)
    checked = model.measure(midnight + 120, every)  # the day's first reading (every 600 s)
    after = model.measure(midnight + 720, every)
    for name, standard in STANDARDS.items():
        read = checked.measured[name]
        assert (np.abs(read / standard - 1) < 0.1).all(), (name, read)  # 2 % repeatability
        assert (read != standard).any()
        assert (checked.clean[name] == standard).all()
        assert np.isnan(after.measured[name]).all()
        assert np.isnan(after.clean[name]).all()
    # The river's items are what the stations measure: clean.
    for name in ("tp", "nh3_n", "dissolved_oxygen"):
        assert (checked.measured[name] == checked.clean[name]).all()


def test_ozone_peaks_in_the_afternoon_and_no2_with_the_rush_hour() -> None:
    stations = specs("air", 20, zone="urban", siting="urban")
    model = model_for("air", stations)
    assert mean(model, at(2025, 6, 10, 6), 20, "o3") < mean(model, at(2025, 6, 10, 15), 20, "o3")
    assert mean(model, at(2025, 6, 11, 15), 20, "no2") < mean(model, at(2025, 6, 12, 8), 20, "no2")
    january = mean(model, at(2025, 1, 14, 12), 20, "temperature")
    july = mean(model, at(2025, 7, 28, 12), 20, "temperature")
    assert january < 12
    assert july > 25


def test_energy_registers_only_grow_and_total_is_the_sum_of_items() -> None:
    buildings = everything("energy")
    model = model_for("energy", buildings)
    every = np.arange(len(buildings), dtype=np.intp)
    items = ("lighting_socket_kwh", "hvac_kwh", "power_kwh", "special_kwh")
    previous = None
    for step in range(200):
        values = model.step(at(2025, 11, 24, 0) + 900 * step, every)
        total = values["total_active_energy_import"]
        assert np.allclose(total, sum(values[item] for item in items), rtol=0, atol=0.011)
        if previous is not None:
            assert (total >= previous).all()
        previous = total


def test_office_power_follows_the_working_day() -> None:
    offices = specs("energy", 10, zone="office", building_type="office", floor_area_m2=50_000)
    model = model_for("energy", offices)
    night = mean(model, at(2025, 11, 25, 3), 10, "total_active_power")
    day = mean(model, at(2025, 11, 25, 11), 10, "total_active_power")
    assert day > 1.8 * night
    # 50,000 m² at about 105 kWh/m²·a is about 600 kW on average
    assert 150 < night < 600 < day < 2500


def test_a_rain_gauge_heard_late_logs_the_series_of_one_heard_every_slot() -> None:
    """The hour-at-a-time fill of missed slots gives the slot-by-slot rain, incidents included."""
    gauges = [Device(f"rain-x-{i:04d}", "rain", interval_s=300) for i in range(6)]
    rates = dict.fromkeys(range(1, 9), 12.0) | {4: 45.0}
    every, late, gapped = (RainModel(gauges, np.random.default_rng(3),
                                     FakeDrivers(FixedRain(rates)))  # type: ignore[arg-type]
                           for _ in range(3))
    for rain in (every, late, gapped):
        INCIDENTS["cloudburst"].knobs(Episode(  # type: ignore[misc]
            0, "rain-x-0000", "cloudburst", T0 + 7_200, None, {}, incident=True), rain.knobs, True)
        INCIDENTS["typhoon-rain"].knobs(Episode(  # type: ignore[misc]
            1, "rain-x-0001", "typhoon-rain", T0 + 3_000, None, {}, incident=True), rain.knobs,
            True)
    idx = np.arange(6, dtype=np.intp)
    end = T0 + 10 * 3600 + 1_500  # mid-hour
    for t in range(T0 + 299, end + 1, 300):
        heard = every.step(t, idx)
    gapped.step(T0 + 3 * 3600 + 899, idx)
    for rain in (late, gapped):
        caught_up = rain.step(end - 1, idx)
        for name in ("rain_5min", "rain_1h", "rain_3h", "rain_6h", "rain_12h", "rain_24h"):
            assert np.allclose(caught_up[name], heard[name], rtol=0, atol=0.051), name
    assert heard["rain_12h"].min() > 50  # a wet day: the comparison is not of zeros
    assert heard["rain_3h"][1] > heard["rain_3h"][2:].max()  # the typhoon's bands count
