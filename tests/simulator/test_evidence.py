"""Statistical evidence: the models behave as the facts file says a city does."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from simulator.city import SensorSpec
from simulator.drivers import Drivers
from simulator.parts import simulated
from simulator.profile import Climate
from simulator.streams import random_stream
from simulator.weather import Weather, WeatherNow
from urbanpulse.kinds import get_kind
from urbanpulse.kinds.modelling import CST, Model

CALM = WeatherNow(temperature=20.0, humidity=60.0, rain_mm_h=0.0, rain_24h_mm=0.0,
                  wind_ms=3.0, haze=0.3, sun=0.5)


class FixedWeather(Weather):
    """The same weather at every hour (a fake driver)."""

    def __init__(self, now: WeatherNow) -> None:
        super().__init__(0, Climate())
        self.now = now

    def at(self, t: int) -> WeatherNow:
        return self.now


def at(year: int, month: int, day: int, hour: float) -> int:
    return int(datetime(year, month, day, tzinfo=CST).timestamp() + hour * 3600)


def specs(kind: str, n: int, *, zone: str = "", poll_s: int = 0,
          **attributes: str | int) -> list[SensorSpec]:
    return [SensorSpec(sensor=f"{kind}-pudong-{i:04d}", kind=kind, district="pudong",
                       site="lujiazui", lat=31.23, lon=121.51, zone=zone,
                       interval_s=get_kind(kind).interval_s if not poll_s else 86_400,
                       attributes=dict(attributes), poll_s=poll_s) for i in range(n)]


def model(kind: str, fleet: Sequence[SensorSpec], weather: WeatherNow | None = None) -> Model:
    drivers = Drivers(weather=FixedWeather(weather)) if weather else Drivers()
    return simulated(kind).model(fleet, random_stream(5, kind), drivers)


def mean(m: Model, t: int, n: int, metric: str) -> float:
    return float(np.nanmean(m.step(t, np.arange(n, dtype=np.intp))[metric]))


def hours_mean(m: Model, days: Sequence[tuple[int, int, int]], hour: float, n: int,
               metric: str) -> float:
    return float(np.mean([mean(m, at(*day, hour), n, metric) for day in days]))


WEEKDAYS = [(2025, 11, d) for d in (17, 18, 19, 20, 21)]


def test_office_lots_empty_on_holidays_while_malls_fill() -> None:
    offices = specs("parking", 40, zone="office", land_use="office", capacity=400, device="lot")
    malls = specs("parking", 40, zone="retail", land_use="retail", capacity=800, device="lot")
    office, mall = model("parking", offices, CALM), model("parking", malls, CALM)
    workday = hours_mean(office, WEEKDAYS, 10.5, 40, "occupancy")
    assert workday > 0.7
    assert hours_mean(office, WEEKDAYS, 3, 40, "occupancy") < 0.15
    assert mean(office, at(2025, 10, 2, 10.5), 40, "occupancy") < 0.25 * workday
    assert mean(office, at(2025, 9, 28, 10.5), 40, "occupancy") > 0.7  # swapped working Sunday
    weekday_mall = hours_mean(mall, WEEKDAYS, 14.5, 40, "occupancy")
    assert mean(mall, at(2025, 10, 2, 14.5), 40, "occupancy") > weekday_mall + 0.03


def test_bays_report_on_change_with_a_daily_heartbeat_and_track_demand() -> None:
    bays = specs("parking", 200, zone="office", poll_s=30, land_use="office", device="bay")
    m = model("parking", bays, CALM)
    every = np.arange(200, dtype=np.intp)
    start = at(2025, 11, 17, 0)  # a Monday
    reports = beats = 0
    shown = np.full(200, np.nan)  # what a consumer of the stream believes
    changed_at = np.full(200, np.nan)
    share: dict[int, float] = {}
    health = ("battery_mv", "rsrp", "snr", "temperature")
    for step in range(2 * 86_400 // 30):
        t = start + 30 * step
        values = m.step(t, every)
        reported = ~np.isnan(values["occupied"])
        kind = values["message_type"]
        assert (reported == ~np.isnan(kind)).all()  # every bay message says its type
        assert np.isnan(values["total_spot_number"]).all()
        startup, change, beat = kind == 0, kind == 1, kind == 2
        assert startup.all() if step == 0 else not startup.any()
        for name in health:  # device health in startup and heartbeat messages only
            assert (~np.isnan(values[name]) == (startup | beat)).all(), name
        duration = values["prev_state_duration_min"]
        assert (~np.isnan(duration) == change).all()
        assert (values["occupied"][change] != shown[change]).all()
        assert np.allclose(duration[change], (t - changed_at[change]) / 60)
        changed_at[startup | change] = t
        shown[reported] = values["occupied"][reported]
        reports += int(reported.sum())
        beats += int(beat.sum())
        if beat.any() or startup.any():
            device = startup | beat
            assert (values["battery_mv"][device] > 3000).all()
            assert (values["rsrp"][device] <= -50).all()
            assert (values["snr"][device] > -20).all()
            assert (abs(values["temperature"][device] - CALM.temperature) < 20).all()
        if (t - start) % 3600 == 0:
            share[(t - start) // 3600] = float(shown.mean())
    assert beats == 200  # one heartbeat a day after startup
    assert reports < 0.05 * 2 * 86_400 // 30 * 200  # on change, far fewer than samples
    assert reports > 200 * 2 * 2  # every office bay fills and empties each workday
    assert share[10] > share[3] + 0.3, share  # 10:00 against 03:00, first day
    assert share[34] > share[27] + 0.4, share  # and the second


def test_ozone_peaks_in_the_afternoon_and_traffic_pollutants_at_rush_hours() -> None:
    stations = specs("air", 30, zone="urban", siting="urban", grade="reference")
    m = model("air", stations)
    days = [(2025, 6, d) for d in range(2, 14)]
    o3 = [hours_mean(m, days, h, 30, "o3") for h in range(24)]
    assert 12 <= int(np.argmax(o3)) <= 16
    assert int(np.argmin(o3)) in range(3, 8)
    no2 = [hours_mean(m, days, h, 30, "no2") for h in range(24)]
    assert no2[8] > no2[14] < no2[20]


def test_haze_raises_pm_and_rain_washes_it_out() -> None:
    stations = specs("air", 30, zone="urban", siting="urban", grade="reference")
    t = at(2025, 12, 10, 12)
    clean = mean(model("air", stations, CALM), t, 30, "pm25")
    hazy = mean(model("air", stations, dataclasses.replace(CALM, haze=2.0)), t, 30, "pm25")
    wet = mean(model("air", stations, dataclasses.replace(CALM, rain_mm_h=8.0)), t, 30, "pm25")
    assert hazy > 2 * clean > 2 * wet


def test_low_cost_sensors_over_read_pm_especially_when_humid() -> None:
    reference = specs("air", 40, zone="urban", siting="urban", grade="reference")
    low_cost = specs("air", 40, zone="urban", siting="urban", grade="low-cost")
    t = at(2025, 12, 10, 12)
    humid = dataclasses.replace(CALM, humidity=92.0)
    ref = mean(model("air", reference, humid), t, 40, "pm25")
    cheap = mean(model("air", low_cost, humid), t, 40, "pm25")
    cheap_dry = mean(model("air", low_cost, CALM), t, 40, "pm25")
    assert cheap > 1.5 * ref
    assert cheap > 1.3 * cheap_dry


def test_dissolved_oxygen_is_lowest_near_dawn_and_rain_raises_turbidity() -> None:
    stations = specs("water", 30, zone="river", class_target=3, station="micro")
    m = model("water", stations, CALM)
    days = [(2025, 7, d) for d in range(10, 20)]
    oxygen = [hours_mean(m, days, h, 30, "dissolved_oxygen") for h in range(24)]
    assert int(np.argmin(oxygen)) in range(2, 8)
    t = at(2025, 7, 21, 12)
    dry = mean(m, t, 30, "turbidity")
    wet = mean(model("water", stations, dataclasses.replace(CALM, rain_24h_mm=60.0)), t, 30,
               "turbidity")
    assert wet > 2.5 * dry


def test_heat_raises_hvac_and_holidays_lower_office_energy() -> None:
    offices = specs("energy", 20, zone="office", building_type="office", floor_area_m2=50_000)
    mild, hot = model("energy", offices, CALM), model(
        "energy", offices, dataclasses.replace(CALM, temperature=34.0))
    t = at(2025, 7, 22, 14)
    assert mean(hot, t, 20, "total_active_power") > 1.3 * mean(mild, t, 20, "total_active_power")
    workday = hours_mean(mild, WEEKDAYS, 11, 20, "total_active_power")
    holiday = np.mean([mean(mild, at(2025, 10, d, 11), 20, "total_active_power")
                       for d in (2, 3, 6)])
    assert holiday < 0.5 * workday


def test_noise_is_louder_by_day_in_every_zone_and_louder_in_louder_zones() -> None:
    days = [(2025, 11, 25)]
    by_zone = {}
    for zone in ("1", "2", "3", "4a"):
        m = model("noise", specs("noise", 20, zone=zone), CALM)
        day, night = hours_mean(m, days, 14, 20, "laeq"), hours_mean(m, days, 3, 20, "laeq")
        assert day > night + 5, zone
        by_zone[zone] = day
    assert by_zone["1"] < by_zone["2"] < by_zone["3"] < by_zone["4a"]
