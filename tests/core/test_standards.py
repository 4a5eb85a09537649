"""National-standard calculators: HJ 633 AQI, GB 3838 water class, GB 3096 noise limits.

The tables below are typed in again from domain-facts.md §1.1, §2.1 and §5.1
rather than imported, so a wrong number in the module fails here.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from urbanpulse.standards import (
    AQI_CATEGORIES,
    AqiResult,
    Averaging,
    WaterBody,
    WaterClassResult,
    aqi,
    aqi_from_iaqis,
    exceeds,
    iaqi,
    is_night,
    local_hour,
    noise_limit,
    parameter_class,
    water_class,
    worse_than_target,
)

# --- HJ 633-2012 ---------------------------------------------------------------------------

STEPS = (0, 50, 100, 150, 200, 300, 400, 500)
TABLE: dict[tuple[str, Averaging], tuple[int, ...]] = {
    ("so2", "24h"): (0, 50, 150, 475, 800, 1600, 2100, 2620),
    ("so2", "1h"): (0, 150, 500, 650, 800),
    ("no2", "24h"): (0, 40, 80, 180, 280, 565, 750, 940),
    ("no2", "1h"): (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    ("pm10", "24h"): (0, 50, 150, 250, 350, 420, 500, 600),
    ("co", "24h"): (0, 2, 4, 14, 24, 36, 48, 60),
    ("co", "1h"): (0, 5, 10, 35, 60, 90, 120, 150),
    ("o3", "1h"): (0, 160, 200, 300, 400, 800, 1000, 1200),
    ("o3", "8h"): (0, 100, 160, 215, 265, 800),
    ("pm25", "24h"): (0, 35, 75, 115, 150, 250, 350, 500),
}
EDGES = [(p, a, c, STEPS[k]) for (p, a), bps in TABLE.items() for k, c in enumerate(bps)]
SEGMENTS = [(p, a, bps[k], bps[k + 1], STEPS[k], STEPS[k + 1])
            for (p, a), bps in TABLE.items() for k in range(len(bps) - 1)]


def reference_iaqi(pollutant: str, concentration: float, averaging: Averaging) -> int:
    """HJ 633 by the book, in exact fractions on the decimal as written (no special cases)."""
    table = TABLE[(pollutant, "24h" if pollutant.startswith("pm") else averaging)]
    c = Fraction(repr(concentration))
    for k in range(len(table) - 1):
        if c <= table[k + 1]:
            slope = Fraction(STEPS[k + 1] - STEPS[k], table[k + 1] - table[k])
            return math.ceil(STEPS[k] + slope * (c - table[k]))
    raise AssertionError("above the table")


@pytest.mark.parametrize(("pollutant", "averaging", "concentration", "expected"), EDGES)
def test_iaqi_is_exact_at_every_breakpoint(pollutant: str, averaging: Averaging,
                                           concentration: float, expected: int) -> None:
    assert iaqi(pollutant, float(concentration), averaging=averaging) == expected


@pytest.mark.parametrize(("pollutant", "averaging", "lo", "hi", "i_lo", "i_hi"), SEGMENTS)
def test_iaqi_interpolates_to_the_midpoint_of_every_segment(
        pollutant: str, averaging: Averaging, lo: float, hi: float, i_lo: int, i_hi: int) -> None:
    assert iaqi(pollutant, (lo + hi) / 2, averaging=averaging) == (i_lo + i_hi) // 2


@pytest.mark.parametrize(("pollutant", "concentration", "averaging", "expected"), [
    ("pm25", 35.01, "24h", 51),   # 50 + 50/40 · 0.01 = 50.0125 -> rounded up to 51
    ("pm25", 0.1, "24h", 1),      # 50/35 · 0.1 = 0.143 -> 1
    ("pm25", 38.2, "24h", 54),    # 50 + 50/40 · 3.2 = 54 exactly; the float 38.2 is a hair
                                  # above 38.2 and must not round to 55
    ("co", 0.8, "1h", 8),         # 50/5 · 0.8 = 8 exactly
    ("co", 0.8, "24h", 20),       # 50/2 · 0.8 = 20 exactly
    ("no2", 44.1, "1h", 23),      # 50/100 · 44.1 = 22.05 -> 23
    ("o3", 92.0, "1h", 29),       # 50/160 · 92 = 28.75 -> 29
    ("pm10", 61.0, "24h", 56),    # 50 + 50/100 · 11 = 55.5 -> 56
    ("pm25", 35.00000000000001, "24h", 51),  # just over a breakpoint still rounds up
])
def test_iaqi_rounds_up_to_an_integer(pollutant: str, concentration: float,
                                      averaging: Averaging, expected: int) -> None:
    assert iaqi(pollutant, concentration, averaging=averaging) == expected


@pytest.mark.parametrize("pollutant", ["pm25", "pm10"])
def test_realtime_particulates_use_the_24h_table(pollutant: str) -> None:
    for c in (0.0, 12.3, 35.0, 80.0, 149.9, 420.0):
        assert iaqi(pollutant, c, averaging="1h") == iaqi(pollutant, c, averaging="24h")


def test_so2_1h_above_800_is_evaluated_on_the_24h_table() -> None:
    assert iaqi("so2", 800.0) == 200
    assert iaqi("so2", 801.0) == 201    # 200 + 100/800 · 1 = 200.125 -> 201 (24-h table)
    assert iaqi("so2", 1200.0) == 250   # 200 + 100/800 · 400
    assert iaqi("so2", 2620.0) == 500


def test_o3_8h_above_800_is_evaluated_on_the_1h_table() -> None:
    assert iaqi("o3", 800.0, averaging="8h") == 300
    assert iaqi("o3", 900.0, averaging="8h") == 350   # 1-h table: 300 + 100/200 · 100
    assert iaqi("o3", 900.0, averaging="8h") == iaqi("o3", 900.0, averaging="1h")


@pytest.mark.parametrize(("pollutant", "averaging", "concentration"), [
    ("pm25", "24h", 500.1), ("pm25", "1h", 2000.0), ("o3", "1h", 1500.0),
    ("o3", "8h", 1300.0), ("so2", "1h", 3000.0), ("co", "1h", 200.0),
])
def test_iaqi_is_capped_at_500_above_the_table(pollutant: str, averaging: Averaging,
                                               concentration: float) -> None:
    assert iaqi(pollutant, concentration, averaging=averaging) == 500


@pytest.mark.parametrize(("pollutant", "averaging", "concentration", "message"), [
    ("pm1", "1h", 10.0, "Unknown HJ 633 pollutant 'pm1'"),
    ("o3", "24h", 10.0, "no '24h' IAQI for 'o3'; use one of 1h, 8h"),
    ("pm25", "8h", 10.0, "no '8h' IAQI for 'pm25'; use one of 1h, 24h"),
    ("so2", "8h", 10.0, "no '8h' IAQI for 'so2'"),
    ("no2", "1h", -0.1, "must be finite and >= 0, not -0.1"),
    ("co", "1h", math.nan, "not nan"),
    ("co", "1h", math.inf, "not inf"),
])
def test_iaqi_refuses_what_the_standard_does_not_define(
        pollutant: str, averaging: Averaging, concentration: float, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        iaqi(pollutant, concentration, averaging=averaging)


@pytest.mark.parametrize(("value", "level", "en", "zh", "colour"), [
    (0, 1, "Excellent", "优", "#00E400"), (50, 1, "Excellent", "优", "#00E400"),
    (51, 2, "Good", "良", "#FFFF00"), (100, 2, "Good", "良", "#FFFF00"),
    (101, 3, "Lightly polluted", "轻度污染", "#FF7E00"),
    (150, 3, "Lightly polluted", "轻度污染", "#FF7E00"),
    (151, 4, "Moderately polluted", "中度污染", "#FF0000"),
    (200, 4, "Moderately polluted", "中度污染", "#FF0000"),
    (201, 5, "Heavily polluted", "重度污染", "#99004C"),
    (300, 5, "Heavily polluted", "重度污染", "#99004C"),
    (301, 6, "Severely polluted", "严重污染", "#7E0023"),
    (500, 6, "Severely polluted", "严重污染", "#7E0023"),
])
def test_aqi_category_at_each_boundary(value: int, level: int, en: str, zh: str,
                                       colour: str) -> None:
    result = aqi_from_iaqis({"pm25": value})
    assert (result.aqi, result.level, result.category_en, result.category_zh, result.colour) \
        == (value, level, en, zh, colour)


def test_categories_cover_every_aqi_once_with_the_table_2_colours() -> None:
    assert [(c.low, c.high) for c in AQI_CATEGORIES] == [
        (0, 50), (51, 100), (101, 150), (151, 200), (201, 300), (301, None)]
    assert [c.colour_name for c in AQI_CATEGORIES] == [
        "green", "yellow", "orange", "red", "purple", "maroon"]


def test_no_primary_pollutant_at_aqi_50_or_below() -> None:
    assert aqi_from_iaqis({"pm25": 50, "o3": 50}).primary == ()
    assert aqi_from_iaqis({"pm25": 51, "o3": 50}).primary == ("pm25",)


def test_every_pollutant_at_the_aqi_is_primary_and_over_100_is_exceeding() -> None:
    result = aqi({"so2": 10.0, "pm10": 250.0, "o3": 300.0, "pm25": 100.0})
    # pm10 250 -> 150, o3 1-h 300 -> 150, pm25 75..115 at 100 -> 100 + 50/40 · 25 = 131.25 -> 132
    assert result.iaqi == {"so2": 4, "pm10": 150, "o3": 150, "pm25": 132}
    assert result.primary == ("pm10", "o3")
    assert result.exceeding == ("pm10", "o3", "pm25")


def test_aqi_of_the_design_example_reading() -> None:
    # DESIGN.md §2 reading: pm25 38.2 -> 54, pm10 61 -> 55.5 -> 56, no2 44.1 -> 22.05 -> 23,
    # o3 92 -> 28.75 -> 29. AQI 56, 良, yellow, primary PM10; temperature is ignored.
    result = aqi({"pm25": 38.2, "pm10": 61.0, "no2": 44.1, "o3": 92.0, "temperature": 3.0})
    assert result == AqiResult(aqi=56, level=2, category_en="Good", category_zh="良",
                               colour="#FFFF00", primary=("pm10",), exceeding=(),
                               iaqi={"no2": 23, "pm10": 56, "o3": 29, "pm25": 54})


def test_aqi_of_a_haze_hour() -> None:
    # pm25 180 -> 200 + 100/100 · 30 = 230; pm10 260 -> 150 + 50/100 · 10 = 155;
    # no2 120 (1 h) -> 50 + 50/100 · 20 = 60; co 1.6 (1 h) -> 16; so2 12 (1 h) -> 4;
    # o3 40 (1 h) -> 12.5 -> 13.
    result = aqi({"so2": 12.0, "no2": 120.0, "pm10": 260.0, "co": 1.6, "o3": 40.0, "pm25": 180.0})
    assert result.iaqi == {"so2": 4, "no2": 60, "pm10": 155, "co": 16, "o3": 13, "pm25": 230}
    assert (result.aqi, result.level, result.category_zh, result.colour) \
        == (230, 5, "重度污染", "#99004C")
    assert result.primary == ("pm25",)
    assert result.exceeding == ("pm10", "pm25")


def test_aqi_refuses_a_reading_without_pollutants() -> None:
    with pytest.raises(ValueError, match="No HJ 633 pollutant among"):
        aqi({"temperature": 20.0, "relative_humidity": 60.0})
    with pytest.raises(ValueError, match="at least one IAQI"):
        aqi_from_iaqis({})


concentrations = st.decimals(min_value=0, max_value=4000, places=3).map(float)


@given(key=st.sampled_from(sorted(TABLE)), a=concentrations, b=concentrations)
def test_iaqi_never_decreases_as_concentration_rises(key: tuple[str, Averaging],
                                                     a: float, b: float) -> None:
    pollutant, averaging = key
    low, high = sorted((a, b))
    assert 0 <= iaqi(pollutant, low, averaging=averaging) \
        <= iaqi(pollutant, high, averaging=averaging) <= 500


@given(key=st.sampled_from(sorted(TABLE)), data=st.data())
def test_iaqi_matches_exact_arithmetic_inside_the_table(key: tuple[str, Averaging],
                                                        data: st.DataObject) -> None:
    pollutant, averaging = key
    top = TABLE[key][-1]
    c = float(data.draw(st.decimals(min_value=0, max_value=top, places=4)))
    assert iaqi(pollutant, c, averaging=averaging) == reference_iaqi(pollutant, c, averaging)


# --- GB 3838-2002 --------------------------------------------------------------------------

AT_MOST = {
    "codmn": (2, 4, 6, 10, 15),
    "nh3_n": (0.15, 0.5, 1.0, 1.5, 2.0),
}
TP: dict[WaterBody, tuple[float, ...]] = {"river": (0.02, 0.1, 0.2, 0.3, 0.4),
                                           "lake": (0.01, 0.025, 0.05, 0.1, 0.2)}
BODIES: tuple[WaterBody, ...] = ("river", "lake")
DO_AT_LEAST = (7.5, 6, 5, 3, 2)
LIMIT_CASES: list[tuple[str, WaterBody, int, float]] = [
    *[("codmn", "river", k, v) for k, v in enumerate(AT_MOST["codmn"], 1)],
    *[("nh3_n", "lake", k, v) for k, v in enumerate(AT_MOST["nh3_n"], 1)],
    *[("tp", body, k, v) for body, limits in TP.items() for k, v in enumerate(limits, 1)],
]


@pytest.mark.parametrize(("name", "body", "klass", "limit"), LIMIT_CASES)
def test_a_value_on_a_limit_meets_that_class_and_just_above_does_not(
        name: str, body: WaterBody, klass: int, limit: float) -> None:
    assert parameter_class(name, limit, water_body=body) == klass
    above = math.nextafter(limit, math.inf)
    assert parameter_class(name, above, water_body=body) == klass + 1


@pytest.mark.parametrize(("klass", "limit"), list(enumerate(DO_AT_LEAST, 1)))
def test_dissolved_oxygen_on_a_limit_meets_that_class_and_just_below_does_not(
        klass: int, limit: float) -> None:
    assert parameter_class("dissolved_oxygen", limit) == klass
    assert parameter_class("dissolved_oxygen", math.nextafter(limit, 0)) == klass + 1


@pytest.mark.parametrize(("ph", "klass"), [
    (6.0, 1), (7.2, 1), (9.0, 1), (5.99, 6), (9.01, 6), (0.0, 6), (14.0, 6)])
def test_ph_inside_6_to_9_constrains_nothing_and_outside_is_worse_than_v(
        ph: float, klass: int) -> None:
    assert parameter_class("ph", ph) == klass


def test_lake_phosphorus_limits_are_stricter_than_river_ones() -> None:
    assert water_class({"tp": 0.05}).water_class == 2
    assert water_class({"tp": 0.05}, water_body="lake").water_class == 3
    assert water_class({"tp": 0.3}, water_body="lake").label == "劣V"


def test_the_worst_parameter_sets_the_class() -> None:
    # pH 7.5 -> I, DO 5.5 -> III, CODMn 3 -> II, NH3-N 1.2 -> IV, TP 0.15 -> III.
    result = water_class({"ph": 7.5, "dissolved_oxygen": 5.5, "codmn": 3.0, "nh3_n": 1.2,
                          "tp": 0.15, "temperature": 18.0, "turbidity": 12.0})
    assert result == WaterClassResult(
        water_class=4, determining=("nh3_n",), water_body="river",
        classes={"ph": 1, "dissolved_oxygen": 3, "codmn": 2, "nh3_n": 4, "tp": 3})
    assert result.label == "IV"


def test_every_parameter_at_the_worst_class_is_determining() -> None:
    # DO 2.5 -> V, CODMn 12 -> V, NH3-N 0.4 -> II.
    result = water_class({"dissolved_oxygen": 2.5, "codmn": 12.0, "nh3_n": 0.4})
    assert (result.water_class, result.determining) == (5, ("dissolved_oxygen", "codmn"))
    worse = water_class({"ph": 9.5, "dissolved_oxygen": 8.0, "nh3_n": 2.5})
    assert (worse.water_class, worse.label, worse.determining) == (6, "劣V", ("ph", "nh3_n"))


@pytest.mark.parametrize(("klass", "target", "worse"), [
    (4, 3, True), (4, 4, False), (4, 5, False), (6, 5, True), (1, 1, False)])
def test_worse_than_target(klass: int, target: int, worse: bool) -> None:
    result = WaterClassResult(water_class=klass, determining=("codmn",), classes={"codmn": klass})
    assert worse_than_target(result, target) is worse


@pytest.mark.parametrize("target", [0, 6, -1])
def test_worse_than_target_refuses_a_class_outside_1_to_5(target: int) -> None:
    result = water_class({"codmn": 3.0})
    with pytest.raises(ValueError, match=f"target class is 1 to 5, not {target}"):
        worse_than_target(result, target)


def test_water_class_refusals_name_the_problem() -> None:
    with pytest.raises(ValueError, match="No GB 3838 parameter among"):
        water_class({"temperature": 20.0})
    with pytest.raises(ValueError, match="Unknown water body 'sea'"):
        water_class({"tp": 0.1}, water_body="sea")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'codmn' must be finite and >= 0"):
        water_class({"codmn": -1.0})
    with pytest.raises(ValueError, match="'cod' is not evaluated"):
        parameter_class("cod", 10.0)


mg_per_l = st.decimals(min_value=0, max_value=30, places=3).map(float)


@given(name=st.sampled_from(["codmn", "nh3_n", "tp"]), body=st.sampled_from(BODIES),
       a=mg_per_l, b=mg_per_l, do=mg_per_l)
def test_class_never_improves_as_a_pollutant_rises(name: str, body: WaterBody, a: float,
                                                   b: float, do: float) -> None:
    low, high = sorted((a, b))
    classes = [water_class({"dissolved_oxygen": do, name: v}, water_body=body).water_class
               for v in (low, high)]
    assert 1 <= classes[0] <= classes[1] <= 6


@given(a=mg_per_l, b=mg_per_l, codmn=mg_per_l)
def test_class_never_improves_as_dissolved_oxygen_falls(a: float, b: float,
                                                        codmn: float) -> None:
    low, high = sorted((a, b))
    assert water_class({"dissolved_oxygen": high, "codmn": codmn}).water_class \
        <= water_class({"dissolved_oxygen": low, "codmn": codmn}).water_class


# --- GB 3096-2008 --------------------------------------------------------------------------

LIMITS = {"0": (50, 40), "1": (55, 45), "2": (60, 50), "3": (65, 55), "4a": (70, 55),
          "4b": (70, 60)}


@pytest.mark.parametrize(("zone", "day", "night"),
                         [(z, d, n) for z, (d, n) in LIMITS.items()])
def test_noise_limits_table_is_complete(zone: str, day: float, night: float) -> None:
    assert [noise_limit(zone, h) for h in range(24)] == [night] * 6 + [day] * 16 + [night] * 2


@pytest.mark.parametrize(("hour", "night"), [
    (0, True), (5, True), (6, False), (12, False), (21, False), (22, True), (23, True)])
def test_night_runs_from_22_00_to_06_00(hour: int, night: bool) -> None:
    assert is_night(hour) is night


def test_exceeds_means_strictly_above_the_limit() -> None:
    assert not exceeds(70.0, "4a", 6)
    assert exceeds(70.1, "4a", 6)
    assert exceeds(55.1, "4a", 5)
    assert not exceeds(55.0, "4a", 22)
    assert exceeds(56.0, "4a", 22)
    assert not exceeds(56.0, "4a", 21)


@pytest.mark.parametrize("zone", ["4c", "4A", "4", "", "zone-2"])
def test_an_unknown_zone_is_refused_by_name(zone: str) -> None:
    with pytest.raises(ValueError, match=f"Unknown GB 3096 noise zone {zone!r}"):
        noise_limit(zone, 12)
    with pytest.raises(ValueError, match=f"zone {zone!r}"):
        exceeds(50.0, zone, 12)


@pytest.mark.parametrize("hour", [-1, 24, 25])
def test_an_hour_outside_the_day_is_refused(hour: int) -> None:
    with pytest.raises(ValueError, match=f"local hour is 0 to 23, not {hour}"):
        noise_limit("2", hour)


def test_local_hour_is_shanghai_time() -> None:
    assert local_hour(0) == 8                     # 1970-01-01 00:00 UTC is 08:00 in Shanghai
    assert local_hour(1763779200000) == 10        # 2025-11-22 02:40 UTC (DESIGN.md example)
    assert local_hour(13 * 3_600_000 + 59 * 60_000) == 21   # 21:59 local: still day
    assert local_hour(14 * 3_600_000) == 22       # 22:00 local: night begins
    assert local_hour(-1) == 7                    # one ms before the epoch


shanghai = ZoneInfo("Asia/Shanghai")


@given(ms=st.integers(min_value=694_224_000_000, max_value=4_102_444_800_000))  # 1992..2100
def test_local_hour_agrees_with_the_tz_database(ms: int) -> None:
    expected = datetime.fromtimestamp(ms // 1000, UTC).astimezone(shanghai).hour
    assert local_hour(ms) == expected
