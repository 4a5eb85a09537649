"""Shanghai local time and the periodic shapes."""

from __future__ import annotations

import numpy as np
import pytest

from urbanpulse.kinds.modelling import annual, daily, hourly, hourly_value, local_time

MONDAY_0800_CST = 1_763_942_400  # 2025-11-24 00:00 UTC


def test_local_time_is_utc_plus_eight() -> None:
    now = local_time(MONDAY_0800_CST)
    assert (now.hour, now.weekday, now.day_of_year, now.is_weekend) == (8.0, 0, 328, False)
    later = local_time(MONDAY_0800_CST + 5 * 86_400 + 16 * 3600 + 90)
    assert later.weekday == 6
    assert later.is_weekend
    assert later.hour == pytest.approx(0.025)
    assert later.day_of_year == 334


def test_hourly_interpolates_cyclically_between_hour_midpoints() -> None:
    profile = np.arange(24, dtype=np.float64)
    assert hourly(profile, 10.5) == pytest.approx(10.0)
    assert hourly(profile, 11.0) == pytest.approx(10.5)
    assert hourly(profile, 23.75) == pytest.approx(23 * 0.75)
    rows = np.stack([profile, 2 * profile])
    assert hourly(rows, 4.5).tolist() == [4.0, 8.0]
    assert hourly_value(list(profile), 11.0) == pytest.approx(10.5)
    assert hourly_value(list(profile), 0.25) == pytest.approx(23 * 0.25)


def test_annual_and_daily_cosines_peak_where_told() -> None:
    assert annual(205, 205) == pytest.approx(1.0)
    assert annual(22, 205) < -0.99
    assert daily(14.5, 14.5) == pytest.approx(1.0)
    assert daily(2.5, 14.5) == pytest.approx(-1.0)
