"""The ingester's per-reading standards paths give exactly what the full calculators give.

`realtime_aqi` and `worst_class` skip the details `aqi` and `water_class`
return; `iaqi` settles near-integer results in exact decimal arithmetic. These
compare each fast path with its reference over every concentration on a
0.1 grid of the tables (0.01 near each breakpoint) and over Hypothesis values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.core.test_standards import TABLE, reference_iaqi
from urbanpulse.standards import POLLUTANTS, aqi, iaqi, parameter_class, water_class
from urbanpulse.standards.air import realtime_aqi
from urbanpulse.standards.water import DO_MINIMUM, MAXIMUM, PARAMETERS, TP_MAXIMUM, worst_class

REALTIME = {p: TABLE[(p, "24h" if p.startswith("pm") else "1h")] for p in POLLUTANTS}


def _grid(top: int) -> Iterator[float]:
    """Every tenth up to `top`, as a device would write it."""
    for tenths in range(top * 10 + 1):
        yield tenths / 10


def _near(points: tuple[int, ...]) -> Iterator[float]:
    """Hundredths within 2 of each breakpoint."""
    for point in points:
        for hundredths in range(max(0, point * 100 - 200), point * 100 + 201):
            yield hundredths / 100


@pytest.mark.parametrize("pollutant", POLLUTANTS)
def test_iaqi_matches_exact_arithmetic_on_a_grid_of_the_whole_table(pollutant: str) -> None:
    points = REALTIME[pollutant]
    top = points[-1] if pollutant != "so2" else 800  # above 800 the 24-h table applies
    wrong = [c for c in (*_grid(top), *_near(points))
             if c <= top and iaqi(pollutant, c) != reference_iaqi(pollutant, c, "1h")]
    assert wrong == []


def _along(points: tuple[int, ...]) -> st.SearchStrategy[float]:
    """k/100 of the way along a segment: where the index is often a whole number."""
    return st.tuples(st.sampled_from(list(pairwise(points))),
                     st.integers(min_value=0, max_value=100)).map(
        lambda case: float(case[0][0] + Fraction(case[0][1] - case[0][0], 100) * case[1]))


@pytest.mark.parametrize("pollutant", POLLUTANTS)
@given(data=st.data())
def test_iaqi_matches_exact_arithmetic_anywhere(pollutant: str, data: st.DataObject) -> None:
    points = REALTIME[pollutant]
    top = points[-1] if pollutant != "so2" else 800
    concentration = data.draw(st.floats(min_value=0, max_value=top) | _along(points) |
                              st.floats(min_value=0, max_value=1e-3))  # 1e-05: an exponent
    assert iaqi(pollutant, concentration) == reference_iaqi(pollutant, concentration, "1h")


def _check_realtime(values: dict[str, float]) -> None:
    full = aqi(values)
    assert realtime_aqi(values) == (full.aqi, full.level, full.primary)


@pytest.mark.parametrize("pollutant", POLLUTANTS)
def test_realtime_aqi_is_aqi_in_brief_for_one_pollutant(pollutant: str) -> None:
    for concentration in _grid(min(REALTIME[pollutant][-1] + 50, 1500)):
        _check_realtime({pollutant: concentration})


concentrations = st.floats(min_value=0, max_value=4000, allow_nan=False)


@given(st.dictionaries(st.sampled_from(POLLUTANTS), concentrations, min_size=1),
       st.dictionaries(st.sampled_from(["temperature", "relative_humidity"]),
                       st.floats(min_value=-50, max_value=60)))
def test_realtime_aqi_is_aqi_in_brief(pollutants: dict[str, float],
                                      others: dict[str, float]) -> None:
    _check_realtime({**others, **pollutants})


@given(st.dictionaries(st.sampled_from(POLLUTANTS),
                       st.integers(min_value=0, max_value=40_000).map(lambda n: n / 10),
                       min_size=2))
def test_realtime_aqi_lists_tied_primary_pollutants_in_table_order(
        pollutants: dict[str, float]) -> None:
    _check_realtime(pollutants)


def _refusal(calculate: Callable[[dict[str, float]], object], values: dict[str, float]) -> str:
    try:
        calculate(values)
    except ValueError as exc:
        return str(exc)
    raise AssertionError(f"{values} was not refused")


def test_realtime_aqi_refuses_what_aqi_refuses() -> None:
    for values in ({"temperature": 20.0}, {"pm25": -1.0}, {"pm25": float("nan")},
                   {"o3": float("inf")}):
        assert _refusal(realtime_aqi, values) == _refusal(aqi, values)


def _by_the_book(name: str, value: float, body: str) -> int:
    """GB 3838 single-factor class as the standard words it: the first class met."""
    if name == "ph":
        return 1 if 6 <= value <= 9 else 6
    if name == "dissolved_oxygen":
        return next((k for k, low in enumerate(DO_MINIMUM, 1) if value >= low), 6)
    limits = TP_MAXIMUM[body] if name == "tp" else MAXIMUM[name]
    return next((k for k, high in enumerate(limits, 1) if value <= high), 6)


@pytest.mark.parametrize("body", ["river", "lake"])
@pytest.mark.parametrize("name", PARAMETERS)
def test_parameter_class_meets_each_limit_as_written(name: str, body: str) -> None:
    limits = {"ph": (6.0, 9.0), "dissolved_oxygen": DO_MINIMUM,
              "tp": TP_MAXIMUM[body]}.get(name) or MAXIMUM[name]
    values = [v for limit in limits for v in (limit, limit - 1e-9, limit + 1e-9,
                                              limit * 0.5, limit * 1.5)] + [0.0, 14.0]
    for value in values:
        assert parameter_class(name, value, water_body=body) == _by_the_book(  # type: ignore[arg-type]
            name, value, body), (name, value)


@given(st.dictionaries(st.sampled_from(PARAMETERS), st.floats(min_value=0, max_value=20),
                       min_size=1), st.sampled_from(["river", "lake"]))
def test_worst_class_is_the_class_of_water_class(values: dict[str, float], body: str) -> None:
    assert worst_class(values, water_body=body) == water_class(  # type: ignore[arg-type]
        values, water_body=body).water_class  # type: ignore[arg-type]
    assert worst_class(values, water_body=body) == max(  # type: ignore[arg-type]
        _by_the_book(name, value, body) for name, value in values.items())


def test_worst_class_refuses_what_water_class_refuses() -> None:
    for values in ({"temperature": 20.0}, {"tp": -0.1}):
        assert _refusal(worst_class, values) == _refusal(water_class, values)
