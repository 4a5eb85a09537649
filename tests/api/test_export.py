"""`/v1/export/{kind}.csv` and `.json`: hourly aggregates per sensor, with their metadata."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import httpx
import pytest

from api.main import create_app
from ops import stack
from tests.api.conftest import error_locs, reading_line, write_lines
from urbanpulse.kinds import get_kind
from urbanpulse.settings import ApiSettings

H0 = int(datetime(2025, 11, 22, 8, tzinfo=UTC).timestamp() * 1000)
MIN, HOUR = 60_000, 3_600_000
RANGE = {"start": "2025-11-22T08:20:00Z", "end": "2025-11-22T09:10:00Z"}


@pytest.fixture
def noise(influxd: stack.Server, influx_db: str) -> None:
    """Two monitors: one with readings in two hours, one in one hour of another district."""
    lines = [
        reading_line("noise-pudong-0001", "noise", "pudong", H0 + 5 * MIN, seq=0,
                     values={"laeq": 50.0, "lamax": 60.0}),
        reading_line("noise-pudong-0001", "noise", "pudong", H0 + 35 * MIN, seq=1,
                     values={"laeq": 60.0, "lamax": 70.0}),
        reading_line("noise-pudong-0001", "noise", "pudong", H0 + HOUR + 5 * MIN, seq=2,
                     values={"laeq": 40.0, "lamax": 45.0, "la90": 35.5}),
        reading_line("noise-huangpu-0001", "noise", "huangpu", H0 + 10 * MIN, seq=0,
                     values={"laeq": 70.0}),
        reading_line("noise-pudong-0001", "noise", "pudong", H0 + 2 * HOUR, seq=3,
                     values={"laeq": 99.0}),  # the end hour is excluded
    ]
    write_lines(influxd.url, influx_db, lines)


@pytest.mark.usefixtures("noise")
async def test_json_holds_hourly_mean_min_max_and_metadata(api: httpx.AsyncClient,
                                                           settings: ApiSettings) -> None:
    response = await api.get("/v1/export/noise.json", params=RANGE)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rows"] == [
        {"hour_start": H0, "sensor": "noise-huangpu-0001", "district": "huangpu",
         "readings": 1, "values": {"laeq": {"mean": 70.0, "min": 70.0, "max": 70.0}}},
        {"hour_start": H0, "sensor": "noise-pudong-0001", "district": "pudong", "readings": 2,
         "values": {"laeq": {"mean": 55.0, "min": 50.0, "max": 60.0},
                    "lamax": {"mean": 65.0, "min": 60.0, "max": 70.0}}},
        {"hour_start": H0 + HOUR, "sensor": "noise-pudong-0001", "district": "pudong",
         "readings": 1, "values": {"laeq": {"mean": 40.0, "min": 40.0, "max": 40.0},
                                   "lamax": {"mean": 45.0, "min": 45.0, "max": 45.0},
                                   "la90": {"mean": 35.5, "min": 35.5, "max": 35.5}}},
    ]
    metadata = body["metadata"]
    # The range is widened to whole hours.
    assert (metadata["kind"], metadata["start"], metadata["end"]) == ("noise", H0, H0 + 2 * HOUR)
    assert metadata["units"] == {name: m.unit for name, m in get_kind("noise").metrics.items()}
    assert metadata["licence"] == settings.api_export_licence
    assert metadata["district"] is None
    generated = datetime.fromisoformat(metadata["generated_at"])
    assert abs((datetime.now(UTC) - generated).total_seconds()) < 60


@pytest.mark.usefixtures("noise")
async def test_csv_has_a_metadata_block_a_header_and_one_line_per_sensor_hour(
        api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/export/noise.csv", params={**RANGE, "district": "pudong"})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    lines = response.text.splitlines()
    comments = dict(line[2:].split(": ", 1) for line in lines if line.startswith("# "))
    assert comments["units"] == "laeq=dB(A); lamax=dB(A); la10=dB(A); la90=dB(A)"
    assert comments["district"] == "pudong"
    assert comments["licence"].startswith("UNSPECIFIED")
    assert comments["range"].startswith("2025-11-22T08:00:00Z to 2025-11-22T10:00:00Z")
    assert "generated_at" in comments
    table = list(csv.DictReader(io.StringIO("\n".join(
        line for line in lines if not line.startswith("#")))))
    assert [(row["hour_start"], row["sensor"], row["readings"], row["laeq_mean"],
             row["la90_max"]) for row in table] == [
        ("2025-11-22T08:00:00Z", "noise-pudong-0001", "2", "55.0", ""),
        ("2025-11-22T09:00:00Z", "noise-pudong-0001", "1", "40.0", "35.5"),
    ]


async def test_licence_comes_from_the_settings(settings: ApiSettings) -> None:
    app = create_app(settings.model_copy(update={"api_export_licence": "CC BY 4.0\nsee site"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        text = (await client.get("/v1/export/air.csv", params=RANGE)).text

    assert "# licence: CC BY 4.0 see site\n" in text
    assert text.splitlines()[-1].startswith("hour_start,sensor,district,readings,pm25_mean")


@pytest.mark.parametrize(("path", "params", "loc"), [
    ("/v1/export/bus.json", {}, ["path", "kind"]),
    ("/v1/export/noise.csv", {"start": "2025-01-01T00:00:00Z", "end": "2025-03-01T00:00:00Z"},
     ["query", "start"]),
    ("/v1/export/noise.csv", {"start": "2025-01-02T00:00:00Z", "end": "2025-01-01T00:00:00Z"},
     ["query", "end"]),
    ("/v1/export/noise.json", {"district": "Pu dong"}, ["query", "district"]),
])
async def test_bad_parameters_are_422(api: httpx.AsyncClient, path: str,
                                      params: dict[str, str], loc: list[str]) -> None:
    assert error_locs(await api.get(path, params=params)) == [loc]


@pytest.mark.usefixtures("noise")
async def test_too_many_rows_is_422_naming_start(settings: ApiSettings) -> None:
    app = create_app(settings.model_copy(update={"api_export_max_rows": 3}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        # Two sensors over two hours could make four rows.
        refused = await client.get("/v1/export/noise.json", params=RANGE)
        one_district = await client.get("/v1/export/noise.json",
                                        params={**RANGE, "district": "pudong"})

    assert error_locs(refused) == [["query", "start"]]
    assert "could make 4 rows, more than the allowed 3" in refused.json()["detail"][0]["msg"]
    assert one_district.status_code == 200


@pytest.mark.parametrize(("start", "end", "status"), [
    # 744 h asked (the 31-day limit), 745 h once widened to whole hours: refused.
    ("2025-11-01T00:30:00Z", "2025-12-02T00:30:00Z", 422),
    # 743.5 h asked, exactly 744 h once widened: allowed.
    ("2025-11-01T00:30:00Z", "2025-12-02T00:00:00Z", 200),
])
async def test_the_range_limit_holds_for_the_range_widened_to_whole_hours(
        api: httpx.AsyncClient, settings: ApiSettings, start: str, end: str,
        status: int) -> None:
    assert settings.api_export_max_range_s == 744 * 3600
    response = await api.get("/v1/export/noise.json", params={"start": start, "end": end})

    assert response.status_code == status, response.text
    if status == 422:
        error = response.json()["detail"][0]
        assert error["loc"] == ["query", "start"]
        assert error["msg"] == ("the range from start to end, widened to "
                                "2025-11-01T00:00:00Z..2025-12-02T01:00:00Z, is 2682000 s, "
                                "more than the allowed 2678400 s")
    else:
        metadata = response.json()["metadata"]
        assert metadata["end"] - metadata["start"] == 744 * HOUR


async def test_means_are_rounded_to_four_places_and_extremes_kept(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    write_lines(influxd.url, influx_db, [
        reading_line("noise-pudong-0001", "noise", "pudong", H0 + MIN, seq=0,
                     values={"laeq": 48.1}),
        reading_line("noise-pudong-0001", "noise", "pudong", H0 + 2 * MIN, seq=1,
                     values={"laeq": 48.2}),
        reading_line("noise-pudong-0001", "noise", "pudong", H0 + 3 * MIN, seq=2,
                     values={"lamax": 50.123456}),
    ])

    response = await api.get("/v1/export/noise.json", params=RANGE)

    assert response.status_code == 200, response.text
    values = response.json()["rows"][0]["values"]
    assert (48.1 + 48.2) / 2 != 48.15  # what InfluxDB's MEAN gives before rounding
    assert values["laeq"] == {"mean": 48.15, "min": 48.1, "max": 48.2}
    assert values["lamax"] == {"mean": 50.1235, "min": 50.123456, "max": 50.123456}
