"""`/v1/sensors/{id}/readings`: raw and bucketed series, ranges and their limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from api.main import create_app
from ops import stack
from tests.api.conftest import MINUTE, T0, birth_line, error_locs, reading_line, write_lines
from urbanpulse.kinds import get_kind
from urbanpulse.settings import ApiSettings

SENSOR = "noise-pudong-0001"
START = "2025-11-22T00:00:00Z"
END = "2025-11-22T00:10:00Z"
ALL_DAY = {"start": START, "end": "2025-11-23T00:00:00Z"}


def laeq(i: int) -> float:
    return 50.5 + i


@pytest.fixture
def noise(influxd: stack.Server, influx_db: str) -> None:
    """A noise monitor with ten readings, one a minute from T0; la10 only on even minutes."""
    lines = [birth_line(SENSOR, "noise", "pudong", T0 - MINUTE)]
    for i in range(10):
        values = {"laeq": laeq(i), "lamax": 70.0 + 2 * i}
        if i % 2 == 0:
            values["la10"] = 55.25
        lines.append(reading_line(SENSOR, "noise", "pudong", T0 + i * MINUTE, seq=i,
                                   values=values))
    write_lines(influxd.url, influx_db, lines)


async def readings(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    return await client.get(f"/v1/sensors/{SENSOR}/readings", params=params)


@pytest.mark.usefixtures("noise")
async def test_raw_readings_in_the_half_open_range(api: httpx.AsyncClient) -> None:
    response = await readings(api, start="2025-11-22T00:02:00Z", end="2025-11-22T00:05:00Z")

    assert response.status_code == 200
    body = response.json()
    assert body["sensor"] == SENSOR
    assert body["kind"] == "noise"
    assert body["unit"] == {name: metric.unit for name, metric in get_kind("noise").metrics.items()}
    assert body["truncated"] is False
    assert body["points"] == [
        {"ts": T0 + 2 * MINUTE, "values": {"laeq": 52.5, "lamax": 74.0, "la10": 55.25}},
        {"ts": T0 + 3 * MINUTE, "values": {"laeq": 53.5, "lamax": 76.0}},
        {"ts": T0 + 4 * MINUTE, "values": {"laeq": 54.5, "lamax": 78.0, "la10": 55.25}},
    ]


@pytest.mark.usefixtures("noise")
@pytest.mark.parametrize(("every", "expected"), [
    ("5m", [
        {"ts": T0, "values": {"laeq": 52.5, "lamax": 74.0, "la10": 55.25}},
        {"ts": T0 + 5 * MINUTE, "values": {"laeq": 57.5, "lamax": 84.0, "la10": 55.25}},
    ]),
    ("1h", [{"ts": T0, "values": {"laeq": 55.0, "lamax": 79.0, "la10": 55.25}}]),
    ("1h30m", [{"ts": T0, "values": {"laeq": 55.0, "lamax": 79.0, "la10": 55.25}}]),
])
async def test_every_gives_the_mean_per_bucket(api: httpx.AsyncClient, every: str,
                                               expected: list[dict[str, object]]) -> None:
    response = await readings(api, start=START, end=END, every=every)

    assert response.status_code == 200
    assert response.json()["points"] == expected


@pytest.mark.usefixtures("noise")
async def test_every_leaves_out_empty_buckets(api: httpx.AsyncClient) -> None:
    response = await readings(api, start=START, end="2025-11-22T06:00:00Z", every="1m")

    points = response.json()["points"]
    assert [point["ts"] for point in points] == [T0 + i * MINUTE for i in range(10)]
    assert [point["values"]["laeq"] for point in points] == [laeq(i) for i in range(10)]


@pytest.mark.usefixtures("noise")
async def test_readings_stop_at_max_points_and_say_so(settings: ApiSettings) -> None:
    app = create_app(settings.model_copy(update={"api_max_points": 4}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        raw = (await readings(client, **ALL_DAY)).json()
        bucketed = (await readings(client, **ALL_DAY, every="2m")).json()
        exact = (await readings(client, **ALL_DAY, every="5m")).json()

    assert [p["ts"] for p in raw["points"]] == [T0 + i * MINUTE for i in range(4)]
    assert raw["truncated"] is True
    assert [p["ts"] for p in bucketed["points"]] == [T0 + i * 2 * MINUTE for i in range(4)]
    assert bucketed["truncated"] is True
    assert len(exact["points"]) == 2
    assert exact["truncated"] is False


async def test_default_range_is_the_last_hour(api: httpx.AsyncClient, influxd: stack.Server,
                                              influx_db: str) -> None:
    now = int(time.time() * 1000)
    write_lines(influxd.url, influx_db, [
        birth_line(SENSOR, "noise", "pudong", now - 120 * MINUTE),
        reading_line(SENSOR, "noise", "pudong", now - 90 * MINUTE, seq=1, values={"laeq": 40.0}),
        reading_line(SENSOR, "noise", "pudong", now - 10 * MINUTE, seq=2, values={"laeq": 41.0}),
        reading_line(SENSOR, "noise", "pudong", now + 10 * MINUTE, seq=3, values={"laeq": 42.0}),
    ])

    response = await readings(api)

    assert response.json()["points"] == [{"ts": now - 10 * MINUTE, "values": {"laeq": 41.0}}]


@pytest.mark.usefixtures("noise")
@pytest.mark.parametrize("params", [
    {"start": "2025-11-22T08:02:00+08:00", "end": "2025-11-22T08:03:00+08:00"},
    {"start": "2025-11-22T00:02:00", "end": "2025-11-22T00:03:00"},
])
async def test_offsets_are_honoured_and_naive_times_are_utc(api: httpx.AsyncClient,
                                                            params: dict[str, str]) -> None:
    response = await readings(api, **params)

    assert [p["ts"] for p in response.json()["points"]] == [T0 + 2 * MINUTE]


@pytest.mark.usefixtures("noise")
async def test_empty_range_has_no_points(api: httpx.AsyncClient) -> None:
    response = await readings(api, start="2025-11-21T00:00:00Z", end="2025-11-21T01:00:00Z")

    assert response.status_code == 200
    assert response.json()["points"] == []


@pytest.mark.usefixtures("noise")
async def test_range_wider_than_allowed_is_422_naming_start(settings: ApiSettings) -> None:
    app = create_app(settings.model_copy(update={"api_max_range_s": 3600}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        at_limit = await readings(client, start=START, end="2025-11-22T01:00:00Z")
        too_wide = await readings(client, start=START, end="2025-11-22T01:00:01Z")

    assert at_limit.status_code == 200
    assert error_locs(too_wide) == [["query", "start"]]
    assert "more than the allowed 3600 s" in too_wide.json()["detail"][0]["msg"]


async def test_default_range_limit_is_31_days(api: httpx.AsyncClient) -> None:
    response = await readings(api, start="2025-10-01T00:00:00Z", end="2025-11-22T00:00:00Z")

    assert error_locs(response) == [["query", "start"]]


@pytest.mark.parametrize("params", [
    {"start": END, "end": START},
    {"start": START, "end": START},
])
async def test_end_not_after_start_is_422_naming_end(api: httpx.AsyncClient,
                                                     params: dict[str, str]) -> None:
    response = await readings(api, **params)

    assert error_locs(response) == [["query", "end"]]
    assert "must be after start" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(("params", "parameter"), [
    ({"every": "5x"}, "every"),
    ({"every": "0m"}, "every"),
    ({"every": "15"}, "every"),
    ({"every": "1y"}, "every"),
    ({"every": "-1m"}, "every"),
    ({"every": "1m;DROP"}, "every"),
    ({"start": "yesterday"}, "start"),
    ({"start": "1960-01-01T00:00:00Z"}, "start"),
    ({"end": "1970-01-01T00:00:00Z"}, "end"),
    ({"start": "1763769600"}, "start"),
    ({"end": "2300-01-01T00:00:00Z"}, "end"),
])
async def test_bad_parameters_are_422_naming_them(api: httpx.AsyncClient,
                                                  params: dict[str, str],
                                                  parameter: str) -> None:
    response = await readings(api, **params)

    assert error_locs(response) == [["query", parameter]]


def test_t0_is_the_documented_moment() -> None:
    assert datetime.fromtimestamp(T0 / 1000, UTC).isoformat() == "2025-11-22T00:00:00+00:00"


@pytest.mark.usefixtures("noise")
@pytest.mark.parametrize("every", ["999999w", "32d", "4w4d", "1w" * 10])
async def test_every_longer_than_the_widest_range_is_422_naming_every(
        api: httpx.AsyncClient, every: str) -> None:
    response = await readings(api, start=START, end=END, every=every)

    assert response.status_code == 422
    assert error_locs(response) == [["query", "every"]]
    assert "at most" in response.json()["detail"][0]["msg"]


@pytest.mark.usefixtures("noise")
async def test_every_as_long_as_the_widest_range_is_served(api: httpx.AsyncClient) -> None:
    response = await readings(api, start=START, end=END, every="31d")

    assert response.status_code == 200
    assert len(response.json()["points"]) == 1
