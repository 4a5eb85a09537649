"""`/v1/parking/guidance`: lots with free spaces and a colour, nearest first."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ops import stack
from tests.api.city import AT, AT_ISO, HERE, HOUR, seed_city
from tests.api.conftest import birth_line, error_locs, reading_line, write_lines
from urbanpulse.kinds.parking.summary import lot_status

NEAR = f"{HERE[0]},{HERE[1]}"


@pytest.fixture
def city(influxd: stack.Server, influx_db: str) -> None:
    """The seeded test city."""
    seed_city(influxd.url, influx_db)


async def guidance(api: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await api.get("/v1/parking/guidance", params={"at": AT_ISO, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.usefixtures("city")
async def test_near_lists_lots_of_every_district_nearest_first(api: httpx.AsyncClient) -> None:
    body = await guidance(api, near=NEAR)

    # The stale lot 15 m away is left out; bays are no guidance destinations. Distances
    # have four places: 0.001 and 0.01 degrees of latitude are 111.1951 and 1111.9508 m.
    assert [(lot["sensor"], lot["distance_m"], lot["free_spaces"], lot["status"])
            for lot in body["items"]] == [
        ("parking-pudong-0001", 111.1951, 50, "green"),
        ("parking-pudong-0003", 475.4106, 1, "red"),
        ("parking-huangpu-0001", 731.5135, 0, "red"),
        ("parking-pudong-0002", 1111.9508, 20, "yellow"),
    ]
    assert (body["total"], body["at"]) == (4, AT)
    first = body["items"][0]
    assert (first["total_spaces"], first["occupancy"], first["ts"]) == (100, 0.5, AT - 60_000)


@pytest.mark.usefixtures("city")
async def test_radius_district_and_limit_narrow_the_list(api: httpx.AsyncClient) -> None:
    near = await guidance(api, near=NEAR, radius_m="600")
    assert [lot["sensor"] for lot in near["items"]] == ["parking-pudong-0001",
                                                        "parking-pudong-0003"]

    both = await guidance(api, near=NEAR, district="huangpu")
    assert [lot["sensor"] for lot in both["items"]] == ["parking-huangpu-0001"]

    limited = await guidance(api, near=NEAR, limit="1")
    assert [lot["sensor"] for lot in limited["items"]] == ["parking-pudong-0001"]
    assert limited["total"] == 4


@pytest.mark.usefixtures("city")
async def test_district_alone_lists_most_free_spaces_first(api: httpx.AsyncClient) -> None:
    body = await guidance(api, district="pudong")

    assert [(lot["sensor"], lot["free_spaces"], lot["distance_m"]) for lot in body["items"]] == [
        ("parking-pudong-0001", 50, None), ("parking-pudong-0002", 20, None),
        ("parking-pudong-0003", 1, None)]


@pytest.mark.usefixtures("city")
async def test_an_unknown_district_is_404_and_one_without_lots_is_empty(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    write_lines(influxd.url, influx_db, [birth_line("air-xuhui-0001", "air", "xuhui", AT)])

    unknown = await api.get("/v1/parking/guidance", params={"district": "nowhere"})
    without_lots = await guidance(api, district="xuhui")

    assert (unknown.status_code, unknown.json()) == (404, {
        "detail": "Unknown district 'nowhere': InfluxDB holds no sensor birth in it."})
    assert (without_lots["items"], without_lots["total"]) == ([], 0)


@pytest.mark.usefixtures("city")
async def test_lots_born_after_at_are_left_out_and_shares_are_rounded(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    lots = [("parking-xuhui-0001", AT - HOUR), ("parking-xuhui-0002", AT + HOUR)]
    write_lines(influxd.url, influx_db, [
        line for sensor, born in lots for line in (
            birth_line(sensor, "parking", "xuhui", born, device="lot", capacity=640),
            reading_line(sensor, "parking", "xuhui", AT - 60_000, seq=0,
                         values={"total_spot_number": 640.0, "available_spot_number": 161.0}))])

    body = await guidance(api, district="xuhui")

    # 1 - 161/640 is 0.7484375, given to four places like every share the api derives.
    assert [(lot["sensor"], lot["occupancy"]) for lot in body["items"]] == [
        ("parking-xuhui-0001", 0.7484)]


@pytest.mark.parametrize(("params", "loc"), [
    ({}, ["query", "district"]),
    ({"near": "31.2"}, ["query", "near"]),
    ({"near": "91,121"}, ["query", "near"]),
    ({"near": "31,181"}, ["query", "near"]),
    ({"near": NEAR, "radius_m": "0"}, ["query", "radius_m"]),
    ({"near": NEAR, "radius_m": "50001"}, ["query", "radius_m"]),
    ({"near": NEAR, "limit": "501"}, ["query", "limit"]),
    ({"district": "Pudong"}, ["query", "district"]),
])
async def test_bad_parameters_are_422(api: httpx.AsyncClient, params: dict[str, str],
                                      loc: list[str]) -> None:
    response = await api.get("/v1/parking/guidance", params=params)

    assert error_locs(response) == [loc]


def test_status_thresholds() -> None:
    assert [lot_status(free, 100) for free in (0, 4, 5, 20, 21, 100)] == [
        "red", "red", "yellow", "yellow", "green", "green"]
    assert lot_status(0, 0) == "red"
