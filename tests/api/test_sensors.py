"""`/v1/sensors` and `/v1/sensors/{id}` against a real InfluxDB holding ingester-shaped data."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.main import create_app
from ops import stack
from tests.api.conftest import (
    MINUTE,
    T0,
    birth_line,
    closed_url,
    error_locs,
    reading_line,
    write_lines,
)
from urbanpulse.kinds import KINDS
from urbanpulse.settings import ApiSettings

SENSORS = [
    # (sensor, kind, district)
    ("air-pudong-0001", "air", "pudong"),
    ("air-pudong-0002", "air", "pudong"),
    ("air-xuhui-0001", "air", "xuhui"),
    ("energy-xuhui-0001", "energy", "xuhui"),
    ("parking-pudong-0001", "parking", "pudong"),
    ("water-minhang-0001", "water", "minhang"),
]
AIR_VALUES = {"pm25": 38.2, "pm10": 61.0, "no2": 44.1, "o3": 92.0, "temperature": -3.25}


@pytest.fixture
def city(influxd: stack.Server, influx_db: str) -> None:
    """Six sensors, a re-birth of one, and three readings of `air-pudong-0001`."""
    lines = [birth_line(sensor, kind, district, T0 - 10 * MINUTE)
             for sensor, kind, district in SENSORS]
    lines += [
        birth_line("air-pudong-0001", "air", "pudong", T0 - 5 * MINUTE, site="roof-b",
                   zone="commercial", lat=31.23, lon=121.47, interval_s=30),
        birth_line("parking-pudong-0001", "parking", "pudong", T0 - 4 * MINUTE,
                   capacity=120, land_use="commercial"),
        birth_line("energy-xuhui-0001", "energy", "xuhui", T0 - 4 * MINUTE,
                   floor_area_m2=5400.0, has_chiller=True),
        birth_line("water-minhang-0001", "water", "minhang", T0 - 4 * MINUTE, class_target=3),
    ]
    lines += [reading_line("air-pudong-0001", "air", "pudong", T0 + i * MINUTE, seq=100 + i,
                           values={**AIR_VALUES, "pm25": AIR_VALUES["pm25"] + i})
              for i in range(3)]
    write_lines(influxd.url, influx_db, lines)


def ids(body: dict[str, Any]) -> list[str]:
    return [item["sensor"] for item in body["items"]]


@pytest.mark.usefixtures("city")
@pytest.mark.parametrize(("query", "expected"), [
    ("", [sensor for sensor, _, _ in SENSORS]),
    ("?kind=air", ["air-pudong-0001", "air-pudong-0002", "air-xuhui-0001"]),
    ("?district=xuhui", ["air-xuhui-0001", "energy-xuhui-0001"]),
    ("?kind=air&district=pudong", ["air-pudong-0001", "air-pudong-0002"]),
    ("?kind=noise", []),
    ("?district=nowhere", []),
])
async def test_list_filters_by_kind_and_district(api: httpx.AsyncClient, query: str,
                                                 expected: list[str]) -> None:
    response = await api.get(f"/v1/sensors{query}")

    assert response.status_code == 200
    body = response.json()
    assert ids(body) == expected
    assert body["total"] == len(expected)
    assert (body["limit"], body["offset"]) == (100, 0)


@pytest.mark.usefixtures("city")
@pytest.mark.parametrize(("limit", "offset", "expected"), [
    (2, 0, ["air-pudong-0001", "air-pudong-0002"]),
    (2, 2, ["air-xuhui-0001", "energy-xuhui-0001"]),
    (4, 4, ["parking-pudong-0001", "water-minhang-0001"]),
    (1000, 6, []),
])
async def test_list_paginates_in_id_order_with_the_full_total(
        api: httpx.AsyncClient, limit: int, offset: int, expected: list[str]) -> None:
    response = await api.get("/v1/sensors", params={"limit": limit, "offset": offset})

    assert response.status_code == 200
    body = response.json()
    assert ids(body) == expected
    assert (body["total"], body["limit"], body["offset"]) == (6, limit, offset)


@pytest.mark.usefixtures("city")
async def test_list_items_carry_the_newest_birth_with_typed_attributes(
        api: httpx.AsyncClient) -> None:
    body = (await api.get("/v1/sensors")).json()
    items = {item["sensor"]: item for item in body["items"]}

    assert items["air-pudong-0001"] == {
        "sensor": "air-pudong-0001", "kind": "air", "district": "pudong", "site": "roof-b",
        "zone": "commercial", "lat": 31.23, "lon": 121.47, "interval_s": 30, "attributes": {},
        "birth_ts": T0 - 5 * MINUTE,
    }
    assert items["parking-pudong-0001"]["attributes"] == {"capacity": 120,
                                                          "land_use": "commercial"}
    energy = items["energy-xuhui-0001"]["attributes"]
    assert energy == {"floor_area_m2": 5400.0, "has_chiller": True}
    assert isinstance(energy["floor_area_m2"], float)
    assert items["water-minhang-0001"]["attributes"] == {"class_target": 3}


async def test_list_of_an_empty_database_is_empty(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/sensors")

    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "limit": 100, "offset": 0}


@pytest.mark.parametrize(("query", "parameter"), [
    ("kind=bogus", "kind"),
    ("kind=Air", "kind"),
    ("district=Pu%20Dong", "district"),
    ("limit=0", "limit"),
    ("limit=1001", "limit"),
    ("limit=ten", "limit"),
    ("offset=-1", "offset"),
])
async def test_list_rejects_bad_parameters_naming_them(api: httpx.AsyncClient, query: str,
                                                       parameter: str) -> None:
    response = await api.get(f"/v1/sensors?{query}")

    assert error_locs(response) == [["query", parameter]]


async def test_unknown_kind_error_lists_the_known_kinds(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/sensors", params={"kind": "bogus"})

    message = response.json()["detail"][0]["msg"]
    assert "Unknown sensor kind 'bogus'" in message
    assert f"known kinds are {', '.join(KINDS)}." in message
    assert "streetlight" in message


@pytest.mark.usefixtures("city")
async def test_detail_has_metadata_and_the_latest_values_as_written(
        api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/sensors/air-pudong-0001")

    assert response.status_code == 200
    body = response.json()
    assert (body["sensor"], body["kind"], body["site"], body["interval_s"]) == (
        "air-pudong-0001", "air", "roof-b", 30)
    assert body["latest"] == {"ts": T0 + 2 * MINUTE, "seq": 102,
                              "values": {**AIR_VALUES, "pm25": AIR_VALUES["pm25"] + 2}}


@pytest.mark.usefixtures("city")
async def test_detail_of_a_sensor_without_readings_has_null_latest(
        api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/sensors/parking-pudong-0001")

    assert response.status_code == 200
    body = response.json()
    assert body["latest"] is None
    assert body["attributes"] == {"capacity": 120, "land_use": "commercial"}


@pytest.mark.usefixtures("city")
@pytest.mark.parametrize("path", ["/v1/sensors/air-pudong-0099",
                                  "/v1/sensors/air-pudong-0099/readings"])
async def test_unknown_sensor_is_404_with_a_sentence(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path)

    assert response.status_code == 404
    assert response.json() == {
        "detail": "Unknown sensor 'air-pudong-0099': InfluxDB holds no birth message for it."}


@pytest.mark.parametrize("path", ["/v1/sensors/Air-1", "/v1/sensors/-a/readings"])
async def test_malformed_sensor_id_is_422_naming_it(api: httpx.AsyncClient, path: str) -> None:
    assert error_locs(await api.get(path)) == [["path", "sensor_id"]]


@pytest.mark.parametrize("path", ["/v1/sensors", "/v1/sensors/air-pudong-0001",
                                  "/v1/sensors/air-pudong-0001/readings"])
async def test_data_routes_answer_503_when_influxdb_is_unreachable(settings: ApiSettings,
                                                                   path: str) -> None:
    url = closed_url()
    app = create_app(settings.model_copy(update={"influx_url": url}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        response = await client.get(path)

    assert response.status_code == 503
    assert response.json()["detail"].startswith(f"InfluxDB at {url}/query is unreachable")
