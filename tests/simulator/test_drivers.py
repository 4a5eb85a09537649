"""The shared drivers: the Chinese calendar and the city's weather."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from simulator.profile import Climate
from simulator.weather import Weather, draw_storms, draw_year
from simulator.workdays import load_calendar
from urbanpulse.kinds.modelling import CST

CHINA = load_calendar("china")


@pytest.mark.parametrize(("day", "workday", "holiday"), [
    (date(2025, 1, 29), False, "spring-festival"),   # Wednesday in the Spring Festival
    (date(2025, 1, 26), True, ""),                   # Sunday worked in exchange
    (date(2025, 10, 8), False, "national-day"),
    (date(2025, 10, 11), True, ""),                  # Saturday worked in exchange
    (date(2026, 2, 18), False, "spring-festival"),
    (date(2026, 2, 28), True, ""),
    (date(2026, 9, 25), False, "mid-autumn"),
    (date(2026, 11, 23), True, ""),                  # an ordinary Monday
    (date(2026, 11, 22), False, ""),                 # an ordinary Sunday
    (date(2027, 2, 8), False, "spring-festival"),
    (date(2027, 10, 9), True, ""),
])
def test_calendar_knows_holidays_and_swapped_working_days(day: date, workday: bool,
                                                          holiday: str) -> None:
    kind = CHINA.day(day)
    assert (kind.is_workday, kind.holiday) == (workday, holiday)


def test_calendar_covers_2025_to_2027_with_seven_holidays_a_year() -> None:
    assert set(CHINA.years) >= {2025, 2026, 2027}
    for year in (2025, 2026, 2027):
        days = [date.fromordinal(n) for n in range(date(year, 1, 1).toordinal(),
                                                  date(year + 1, 1, 1).toordinal())]
        names = {CHINA.day(d).holiday for d in days} - {""}
        assert len(names) >= 6, year
        workdays = sum(CHINA.day(d).is_workday for d in days)
        assert 245 <= workdays <= 252, (year, workdays)  # China works about 248 days a year


def test_calendar_at_uses_shanghai_local_days_and_seasons() -> None:
    late_utc = int(datetime(2025, 9, 30, 17, tzinfo=CST).timestamp())  # 17:00 CST
    assert CHINA.at(late_utc).is_workday
    assert CHINA.at(late_utc + 7 * 3600).holiday == "national-day"  # 00:00 CST on 1 Oct
    assert CHINA.day(date(2025, 7, 1)).season == "summer"
    assert CHINA.day(date(2025, 1, 1)).season == "winter"


def test_weather_is_a_function_of_seed_and_date_only() -> None:
    t = int(datetime(2026, 5, 5, 12, tzinfo=CST).timestamp())
    assert Weather(3, Climate()).at(t) == Weather(3, Climate()).at(t)
    assert Weather(3, Climate()).at(t) != Weather(4, Climate()).at(t)


def test_weather_has_a_shanghai_climate() -> None:
    temperature, humidity, rain, _, wind, _haze, sun = draw_year(1, 2026, Climate())
    january, july = temperature[: 31 * 24].mean(), temperature[181 * 24: 212 * 24].mean()
    assert january < 8
    assert july > 25
    assert 900 < rain.sum() < 1500  # Shanghai has about 1,200 mm a year
    plum = rain[166 * 24: 192 * 24].mean()
    december = rain[334 * 24:].mean()
    assert plum > 1.5 * december
    assert 2.0 < wind.mean() < 5.0
    assert sun.min() >= 0
    assert sun.max() <= 1
    assert humidity.min() >= 20


def test_haze_builds_in_calm_spells_and_rain_clears_it() -> None:
    _, _, rain, _, wind, haze, _ = draw_year(2, 2026, Climate())
    rainy = rain > 2
    assert haze[1:][rainy[1:]].mean() < haze[:-1][rainy[1:]].mean()
    assert haze[wind < 2].mean() > haze[wind > 5].mean()
    spells = np.diff((haze > 1.0).astype(int))
    assert (spells == 1).sum() >= 5  # several distinct episodes a year


def test_storms_are_summer_cloudbursts_and_july_to_september_typhoons() -> None:
    totals, rain_days = [], []
    for seed in range(1, 7):
        year = draw_year(seed, 2026, Climate())
        rain, wind = year[2], year[4]
        storms = draw_storms(seed, 2026, 365)
        june, october = 151 * 24, 273 * 24
        summer = rain[june:october]
        assert 1 <= (summer >= 36).sum() <= 10, seed  # a few cloudburst hours a summer
        assert (rain[:june] >= 36).sum() + (rain[october:] >= 36).sum() == 0, seed
        typhoon_days = np.unique(np.flatnonzero(storms.typhoon) // 24)
        assert typhoon_days.size >= 1, seed
        assert typhoon_days.min() >= 181, seed  # 1 July
        assert typhoon_days.max() <= 272, seed  # 30 September
        assert wind[storms.typhoon].mean() > 8, seed
        totals.append(rain.sum())
        rain_days.append(int((rain.reshape(-1, 24).sum(axis=1) >= 0.1).sum()))
    assert all(850 < total < 1600 for total in totals), totals
    assert 1050 < np.mean(totals) < 1300, totals  # Shanghai: about 1,100-1,200 mm a year
    assert 110 < np.mean(rain_days) < 150, rain_days  # about 120-130 rain days
