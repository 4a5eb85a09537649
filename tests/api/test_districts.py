"""`/v1/districts` and `/v1/districts/{district}/summary` over a seeded city in real InfluxDB."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.alert_store import ACTIVE_LOOKBACK_MS
from ops import stack
from tests.api.city import AT, AT_ISO, DAY, HOUR, MIDNIGHT, CityWriter, seed_city
from tests.api.conftest import birth_line, error_locs, write_lines
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.noise.summary import latest_periods


@pytest.fixture
def city(influxd: stack.Server, influx_db: str) -> None:
    """The seeded test city."""
    seed_city(influxd.url, influx_db)


async def summary(api: httpx.AsyncClient, district: str = "pudong") -> dict[str, Any]:
    response = await api.get(f"/v1/districts/{district}/summary", params={"at": AT_ISO})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.usefixtures("city")
async def test_list_names_every_district_with_its_sensors_per_kind(
        api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/districts")

    assert response.status_code == 200
    assert response.json() == {"items": [
        {"district": "huangpu", "sensors": {"air": 1, "parking": 1}},
        {"district": "pudong",
         "sensors": {"air": 2, "energy": 2, "noise": 2, "parking": 6, "water": 3}},
    ]}


@pytest.mark.usefixtures("city")
async def test_summary_states_its_time_and_local_day(api: httpx.AsyncClient) -> None:
    body = await summary(api)

    assert (body["district"], body["at"], body["day_start"]) == ("pudong", AT, MIDNIGHT)


@pytest.mark.usefixtures("city")
async def test_summary_has_a_section_per_kind_keyed_by_its_name(api: httpx.AsyncClient) -> None:
    body = await summary(api)

    assert set(body) == {"district", "at", "history_at", "day_start", "alerts", *KINDS}


@pytest.mark.usefixtures("city")
async def test_parking_counts_current_lots_and_bays(api: httpx.AsyncClient) -> None:
    parking = (await summary(api))["parking"]

    # Lots 100/50 free, 200/20, 50/1 (one more lot is stale), bays: one taken, one free.
    assert parking == {"lots": 3, "bays": 2, "total_spaces": 352, "free_spaces": 72,
                       "occupancy": 0.7955,
                       "lots_by_status": {"green": 1, "yellow": 1, "red": 1}}


@pytest.mark.usefixtures("city")
async def test_air_is_the_aqi_of_the_stations_mean(api: httpx.AsyncClient) -> None:
    air = (await summary(api))["air"]

    # Means PM2.5 60 (IAQI 82) and PM10 80 (IAQI 65).
    assert air == {"stations": 2, "aqi": 82, "level": 2, "category": "Good",
                   "colour": "#FFFF00", "colour_name": "yellow", "primary_pollutants": ["pm25"]}


@pytest.mark.usefixtures("city")
async def test_water_class_of_each_station_against_its_target(api: httpx.AsyncClient) -> None:
    water = (await summary(api))["water"]

    assert water["stations"] == [
        {"sensor": "water-pudong-0001", "site": "river-1", "water_class": 2, "label": "II",
         "target_class": 3, "meets_target": True, "ts": AT - 5 * 60_000},
        {"sensor": "water-pudong-0002", "site": "river-2", "water_class": 5, "label": "V",
         "target_class": 3, "meets_target": False, "ts": AT - 5 * 60_000},
        {"sensor": "water-pudong-0003", "site": "river-3", "water_class": None, "label": None,
         "target_class": 2, "meets_target": None, "ts": None},
    ]
    assert (water["meeting_target"], water["worse_than_target"]) == (1, 1)


@pytest.mark.usefixtures("city")
async def test_energy_today_against_the_same_weekday_baseline(api: httpx.AsyncClient) -> None:
    energy = (await summary(api))["energy"]

    # Building 1: 300 kWh today, 240 and 260 one and two weeks ago; building 2: 100, new.
    assert energy == {"buildings": 2, "today_kwh": 400.0, "baseline_kwh": 250.0,
                      "compared_buildings": 1, "change_pct": 20.0}


@pytest.mark.usefixtures("city")
async def test_noise_exceedances_of_the_latest_day_and_night(api: httpx.AsyncClient) -> None:
    noise = (await summary(api))["noise"]

    assert noise["day"] == {"period": "day", "start": MIDNIGHT + 6 * HOUR, "end": AT,
                            "monitors": 2, "readings": 3, "exceeding_readings": 1,
                            "exceeding_monitors": 1}
    assert noise["night"] == {"period": "night", "start": MIDNIGHT - 2 * HOUR,
                              "end": MIDNIGHT + 6 * HOUR, "monitors": 1, "readings": 2,
                              "exceeding_readings": 1, "exceeding_monitors": 1}


@pytest.mark.usefixtures("city")
async def test_active_alerts_by_severity(api: httpx.AsyncClient) -> None:
    alerts = (await summary(api))["alerts"]

    # Firing (high), acknowledged (medium), pending (low); resolved and later ones don't count.
    assert alerts == {"total": 3, "info": 0, "low": 1, "medium": 1, "high": 1, "critical": 0}


@pytest.mark.usefixtures("city")
async def test_other_district_and_later_time(api: httpx.AsyncClient) -> None:
    huangpu = await summary(api, "huangpu")
    assert huangpu["parking"]["lots_by_status"] == {"green": 0, "yellow": 0, "red": 1}
    assert huangpu["air"]["aqi"] == 500
    assert huangpu["alerts"]["critical"] == 1

    response = await api.get("/v1/districts/pudong/summary",
                             params={"at": "2025-11-25T06:00:00Z"})
    later = response.json()
    assert later["parking"]["lots"] == 0  # every count is a day old by then
    assert later["energy"] == {"buildings": 0, "today_kwh": None, "baseline_kwh": None,
                               "compared_buildings": 0, "change_pct": None}
    assert later["day_start"] == MIDNIGHT + DAY


@pytest.mark.usefixtures("city")
async def test_alerts_count_only_if_they_changed_in_the_lookback(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    city = CityWriter()
    city.alert("a7", "pudong", "firing", "info", AT - ACTIVE_LOOKBACK_MS + HOUR)
    city.alert("a8", "pudong", "firing", "critical", AT - ACTIVE_LOOKBACK_MS - HOUR)
    city.write(influxd.url, influx_db)

    alerts = (await summary(api))["alerts"]

    assert ACTIVE_LOOKBACK_MS == 31 * DAY
    assert (alerts["total"], alerts["info"], alerts["critical"]) == (4, 1, 0)


@pytest.mark.usefixtures("city")
async def test_sensors_born_after_at_do_not_count(api: httpx.AsyncClient,
                                                  influxd: stack.Server, influx_db: str) -> None:
    write_lines(influxd.url, influx_db, [
        birth_line("water-pudong-0009", "water", "pudong", AT + HOUR, interval_s=600,
                   class_target=3),
        # A later birth of a known station: at AT, its earlier target still holds.
        birth_line("water-pudong-0001", "water", "pudong", AT + HOUR, site="river-1",
                   interval_s=600, class_target=1)])

    water = (await summary(api))["water"]
    before_any = await api.get("/v1/districts/pudong/summary",
                               params={"at": "2025-10-01T00:00:00Z"})

    assert [(station["sensor"], station["target_class"]) for station in water["stations"]] == [
        ("water-pudong-0001", 3), ("water-pudong-0002", 3), ("water-pudong-0003", 2)]
    assert before_any.status_code == 200  # the district is known, its sensors not yet born
    body = before_any.json()
    assert (body["water"]["stations"], body["parking"]["lots"], body["alerts"]["total"]) == (
        [], 0, 0)


@pytest.mark.usefixtures("city")
async def test_unknown_district_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/districts/nowhere/summary")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "Unknown district 'nowhere': InfluxDB holds no sensor birth in it."}


@pytest.mark.parametrize(("path", "params", "loc"), [
    ("/v1/districts/Pudong/summary", {}, ["path", "district"]),
    ("/v1/districts/pudong/summary", {"at": "yesterday"}, ["query", "at"]),
    ("/v1/districts/pudong/summary", {"at": "1900-01-01T00:00:00Z"}, ["query", "at"]),
])
async def test_bad_parameters_are_422(api: httpx.AsyncClient, path: str,
                                      params: dict[str, str], loc: list[str]) -> None:
    assert error_locs(await api.get(path, params=params)) == [loc]


@pytest.mark.parametrize(("local_hour", "day", "night"), [
    # (hour of the summary, local hours of the day and night periods from its midnight)
    (14, (6, 22), (-2, 6)),
    (23, (6, 22), (22, 30)),
    (3, (-18, -2), (-2, 6)),
    (6, (6, 22), (-2, 6)),
])
def test_latest_day_and_night_periods(local_hour: int, day: tuple[int, int],
                                      night: tuple[int, int]) -> None:
    periods = latest_periods(MIDNIGHT + local_hour * HOUR)

    assert periods["day"] == (MIDNIGHT + day[0] * HOUR, MIDNIGHT + day[1] * HOUR)
    assert periods["night"] == (MIDNIGHT + night[0] * HOUR, MIDNIGHT + night[1] * HOUR)
