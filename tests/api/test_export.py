"""`/v1/export/{kind}.csv` and `.json`: hourly aggregates per sensor, read from the rollups.

The rollup points are written here as the ingester writes them (`{kind}_1h`, tags
`sensor` and `district`, fields `<metric>_mean/_min/_max` and integer `count`,
at the hour's start), into the real test InfluxDB. A raw reading beside them
shows the export does not read raw points.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
import pytest

from api import open_data
from api.errors import InfluxUnavailableError
from api.influx import FakeTransport, HttpxTransport, InfluxQuery, InfluxResponse
from api.main import create_app
from api.routes.export import EXPORT_SLOTS, RETRY_AFTER_S
from api.warm_exports import ExportWarmer
from ops import stack
from tests.api.conftest import error_locs, reading_line, write_lines
from urbanpulse.kinds import get_kind
from urbanpulse.lineprotocol import FieldValue, encode_point
from urbanpulse.settings import ApiSettings

H0 = int(datetime(2025, 11, 22, 8, tzinfo=UTC).timestamp() * 1000)
MIN, HOUR = 60_000, 3_600_000
RANGE = {"start": "2025-11-22T08:20:00Z", "end": "2025-11-22T09:10:00Z"}
Stats = tuple[float, float, float]


def rollup_line(sensor: str, kind: str, district: str, hour_ms: int, *, count: int,
                stats: Mapping[str, Stats], **extra: FieldValue) -> str:
    """Return the hourly rollup point the ingester writes for one sensor and hour."""
    fields: dict[str, FieldValue] = {"count": count, **extra}
    for metric, (mean, low, high) in stats.items():
        fields |= {f"{metric}_mean": mean, f"{metric}_min": low, f"{metric}_max": high}
    return encode_point(f"{kind}_1h", {"sensor": sensor, "district": district}, fields,
                        hour_ms)


@pytest.fixture
def noise(influxd: stack.Server, influx_db: str) -> None:
    """Two monitors: one with rollups of two hours, one with an hour in another district."""
    write_lines(influxd.url, influx_db, [
        rollup_line("noise-pudong-0001", "noise", "pudong", H0, count=2,
                    stats={"laeq": (55.0, 50.0, 60.0), "lamax": (65.0, 60.0, 70.0)}),
        rollup_line("noise-pudong-0001", "noise", "pudong", H0 + HOUR, count=1,
                    stats={"laeq": (40.0, 40.0, 40.0), "lamax": (45.0, 45.0, 45.0),
                           "la90": (35.5, 35.5, 35.5)}),
        rollup_line("noise-huangpu-0001", "noise", "huangpu", H0, count=1,
                    stats={"laeq": (70.0, 70.0, 70.0)}),
        rollup_line("noise-pudong-0001", "noise", "pudong", H0 + 2 * HOUR, count=1,
                    stats={"laeq": (99.0, 99.0, 99.0)}),  # the end hour is excluded
        # Raw readings are not what the export reads.
        reading_line("noise-pudong-0002", "noise", "pudong", H0 + 5 * MIN, seq=0,
                     values={"laeq": 50.0}),
    ])


@pytest.mark.usefixtures("noise")
async def test_json_holds_the_hourly_rollups_and_metadata(api: httpx.AsyncClient,
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
    assert "'noise_1h'" in metadata["source"]
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
    assert comments["units"] == ("laeq=dB(A); lamax=dB(A); la10=dB(A); la90=dB(A); "
                                 "calibration_db=dB")
    assert comments["district"] == "pudong"
    assert comments["licence"].startswith("UNSPECIFIED")
    assert comments["range"].startswith("2025-11-22T08:00:00Z to 2025-11-22T10:00:00Z")
    assert "so far" in comments["columns"]
    assert "generated_at" in comments
    table = list(csv.DictReader(io.StringIO("\n".join(
        line for line in lines if not line.startswith("#")))))
    assert [(row["hour_start"], row["sensor"], row["readings"], row["laeq_mean"],
             row["la90_max"]) for row in table] == [
        ("2025-11-22T08:00:00Z", "noise-pudong-0001", "2", "55.0", ""),
        ("2025-11-22T09:00:00Z", "noise-pudong-0001", "1", "40.0", "35.5"),
    ]


async def test_an_hour_missing_a_metric_or_part_of_one_leaves_it_out(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    write_lines(influxd.url, influx_db, [
        # No HVAC energy at all in this hour, and only a mean of the lighting energy.
        rollup_line("energy-pudong-0001", "energy", "pudong", H0, count=3,
                    stats={"total_active_power": (12.5, 10.0, 15.0)},
                    lighting_socket_kwh_mean=0.4),
        # An hour whose rollup holds only its count so far.
        rollup_line("energy-pudong-0001", "energy", "pudong", H0 + HOUR, count=1, stats={}),
    ])

    as_json = await api.get("/v1/export/energy.json", params=RANGE)
    as_csv = await api.get("/v1/export/energy.csv", params=RANGE)

    assert as_json.status_code == 200, as_json.text
    assert [(row["readings"], row["values"]) for row in as_json.json()["rows"]] == [
        (3, {"total_active_power": {"mean": 12.5, "min": 10.0, "max": 15.0}}),
        (1, {}),
    ]
    assert as_csv.status_code == 200, as_csv.text
    table = list(csv.DictReader(line for line in as_csv.text.splitlines()
                                if not line.startswith("#")))
    assert [(row["readings"], row["total_active_power_mean"], row["lighting_socket_kwh_mean"],
             row["hvac_kwh_max"]) for row in table] == [("3", "12.5", "", ""), ("1", "", "", "")]


async def test_the_hour_being_written_is_exported_with_its_count_so_far(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    hour = int(time.time() * 1000) // HOUR * HOUR
    sensor = "air-pudong-0001"

    async def readings() -> list[int]:
        response = await api.get("/v1/export/air.json")  # the last 24 hours, up to now
        assert response.status_code == 200, response.text
        return [row["readings"] for row in response.json()["rows"]]

    write_lines(influxd.url, influx_db, [
        rollup_line(sensor, "air", "pudong", hour - HOUR, count=60,
                    stats={"pm25": (30.0, 20.0, 40.0)}),
        rollup_line(sensor, "air", "pudong", hour, count=2, stats={"pm25": (31.0, 30.0, 32.0)}),
    ])
    first = await readings()
    # The ingester rewrites the open hour's point as readings arrive.
    write_lines(influxd.url, influx_db, [
        rollup_line(sensor, "air", "pudong", hour, count=5, stats={"pm25": (33.0, 30.0, 38.0)}),
    ])

    assert first == [60, 2]
    assert await readings() == [60, 5]


async def test_hours_beyond_one_statement_come_by_hour_then_district_then_sensor(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Five sensors make one hour per statement: three statements for the three hours.
    monkeypatch.setattr(open_data, "ROWS_PER_STATEMENT", 5)
    sensors = [("pudong", f"parking-pudong-{n:04d}") for n in (3, 1, 2)] + \
        [("huangpu", f"parking-huangpu-{n:04d}") for n in (2, 1)]
    write_lines(influxd.url, influx_db, [
        rollup_line(sensor, "parking", district, H0 + hour * HOUR, count=n + hour,
                    stats={"occupied": (0.5, 0, 1)})
        for n, (district, sensor) in enumerate(sensors, start=1) for hour in range(3)])

    response = await api.get("/v1/export/parking.csv", params={
        "start": "2025-11-22T08:00:00Z", "end": "2025-11-22T11:00:00Z"})

    assert response.status_code == 200, response.text
    table = list(csv.DictReader(line for line in response.text.splitlines()
                                if not line.startswith("#")))
    one_hour = sorted(sensors)
    assert [(row["hour_start"], row["district"], row["sensor"]) for row in table] == [
        (f"2025-11-22T{8 + hour:02d}:00:00Z", district, sensor)
        for hour in range(3) for district, sensor in one_hour]
    readings = {sensor: n for n, (_, sensor) in enumerate(sensors, start=1)}
    assert [int(row["readings"]) for row in table] == [
        readings[sensor] + hour for hour in range(3) for _, sensor in one_hour]


class HeldTransport:
    """The real transport, except that every request waits until `gate` opens (the fault)."""

    def __init__(self, real: HttpxTransport, gate: asyncio.Event) -> None:
        self._real = real
        self._gate = gate
        self.waiting = 0

    async def get(self, path: str, params: Mapping[str, str]) -> InfluxResponse:
        self.waiting += 1
        await self._gate.wait()
        return await self._real.get(path, params)


@pytest.mark.usefixtures("noise")
async def test_an_export_beyond_the_slots_is_429_with_retry_after(
        settings: ApiSettings, influxd: stack.Server) -> None:
    gate = asyncio.Event()
    async with httpx.AsyncClient(base_url=influxd.url) as raw:
        held = HeldTransport(HttpxTransport(raw), gate)
        app = create_app(settings, influx_transport=held)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://api") as client:
            running = [asyncio.create_task(client.get(f"/v1/export/noise.{form}", params=RANGE))
                       for form in (["csv", "json"] * EXPORT_SLOTS)[:EXPORT_SLOTS]]
            while held.waiting < EXPORT_SLOTS:
                await asyncio.sleep(0.01)
            refused = await client.get("/v1/export/noise.json", params=RANGE)
            gate.set()
            done = await asyncio.gather(*running)
            after = await client.get("/v1/export/noise.csv", params=RANGE)

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == str(RETRY_AFTER_S)
    assert refused.json() == {"detail": f"{EXPORT_SLOTS} exports are running, the most this "
                                        f"server runs at once: retry in {RETRY_AFTER_S} s."}
    assert [response.status_code for response in done] == [200] * EXPORT_SLOTS
    assert "noise-pudong-0001" in done[0].text
    assert after.status_code == 200  # the slots were given back


async def test_an_unreachable_influxdb_is_503_and_gives_its_slot_back(
        settings: ApiSettings) -> None:
    failing = FakeTransport(error=InfluxUnavailableError("InfluxDB is unreachable."))
    app = create_app(settings, influx_transport=failing)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        answers = [await client.get(f"/v1/export/noise.{form}", params=RANGE)
                   for form in ("csv", "json") * EXPORT_SLOTS]

    assert [answer.status_code for answer in answers] == [503] * 2 * EXPORT_SLOTS
    assert answers[0].headers["content-type"] == "application/json"
    assert answers[0].json() == {"detail": "InfluxDB is unreachable."}


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
    mean = (48.1 + 48.2) / 2
    assert mean != 48.15  # what a float mean gives before rounding
    write_lines(influxd.url, influx_db, [
        rollup_line("noise-pudong-0001", "noise", "pudong", H0, count=3,
                    stats={"laeq": (mean, 48.1, 48.2),
                           "lamax": (50.123456, 50.123456, 50.123456)}),
    ])

    response = await api.get("/v1/export/noise.json", params=RANGE)

    assert response.status_code == 200, response.text
    values = response.json()["rows"][0]["values"]
    assert values["laeq"] == {"mean": 48.15, "min": 48.1, "max": 48.2}
    assert values["lamax"] == {"mean": 50.1235, "min": 50.123456, "max": 50.123456}


def district_line(kind: str, district: str, hour_ms: int, *, count: int, sensors: int) -> str:
    """Return the district's hourly rollup point, as much of it as the export reads."""
    return encode_point(f"{kind}_district_1h", {"district": district},
                        {"count": count, "sensors": sensors}, hour_ms)


async def laeq_means(api: httpx.AsyncClient) -> list[float]:
    response = await api.get("/v1/export/noise.json", params=RANGE)
    assert response.status_code == 200, response.text
    return [row["values"]["laeq"]["mean"] for row in response.json()["rows"]]


async def test_a_settled_hour_is_kept_while_its_district_rollup_is_unchanged(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    def hour(mean: float, count: int) -> list[str]:
        return [rollup_line("noise-pudong-0001", "noise", "pudong", H0, count=count,
                            stats={"laeq": (mean, mean, mean)}),
                district_line("noise", "pudong", H0, count=count, sensors=1)]

    write_lines(influxd.url, influx_db, hour(50.0, 2))
    first = await laeq_means(api)
    # The sensor's point alone rewritten: the district's still says 2 readings.
    write_lines(influxd.url, influx_db, hour(51.0, 2)[:1])
    kept = await laeq_means(api)
    # A late reading, recomputed into both points, changes the district's count.
    write_lines(influxd.url, influx_db, hour(52.0, 3))
    after = await laeq_means(api)

    assert (first, kept, after) == ([50.0], [50.0], [52.0])


async def test_a_piece_that_disagrees_with_its_district_rollup_is_not_kept(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    # The district point counts a second sensor the sensors' points do not hold (yet).
    write_lines(influxd.url, influx_db, [
        rollup_line("noise-pudong-0001", "noise", "pudong", H0, count=2,
                    stats={"laeq": (50.0, 50.0, 50.0)}),
        district_line("noise", "pudong", H0, count=3, sensors=2)])
    first = await laeq_means(api)
    write_lines(influxd.url, influx_db, [
        rollup_line("noise-pudong-0001", "noise", "pudong", H0, count=2,
                    stats={"laeq": (51.0, 51.0, 51.0)})])

    assert (first, await laeq_means(api)) == ([50.0], [51.0])


async def test_the_hours_not_yet_settled_are_read_afresh(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    now = int(time.time() * 1000)
    before = now - now % HOUR - HOUR  # the hour before this one: not settled
    lines = [rollup_line("air-pudong-0001", "air", "pudong", before, count=60,
                         stats={"pm25": (30.0, 20.0, 40.0)}),
             district_line("air", "pudong", before, count=60, sensors=1)]

    async def means() -> list[float]:
        response = await api.get("/v1/export/air.json")
        assert response.status_code == 200, response.text
        return [row["values"]["pm25"]["mean"] for row in response.json()["rows"]]

    write_lines(influxd.url, influx_db, lines)
    first = await means()
    write_lines(influxd.url, influx_db, [lines[0].replace("pm25_mean=30", "pm25_mean=31")])

    assert (first, await means()) == ([30.0], [31.0])


def test_kept_pieces_stay_within_their_budget_least_recently_used_out() -> None:
    kept = open_data.HourPieces(budget=10)
    keys = [open_data.PieceKey("noise", H0 + n * HOUR, "pudong", "csv") for n in range(3)]
    kept.put(keys[0], (1, 1), b"aaaa")
    kept.put(keys[1], (1, 1), b"bbbb")
    assert kept.get(keys[0], (1, 1)) == b"aaaa"  # now the most recently used
    kept.put(keys[2], (1, 1), b"cccc")  # 12 bytes: the least recently used goes
    kept.put(keys[2], (2, 1), b"c" * 11)  # larger than the budget: not kept at all

    assert (kept.get(keys[0], (1, 1)), kept.get(keys[1], (1, 1))) == (b"aaaa", None)
    assert kept.get(keys[0], (2, 1)) is None  # another fingerprint
    assert (kept.get(keys[2], (1, 1)), kept.get(keys[2], (2, 1))) == (None, None)
    assert (len(kept), kept.size) == (1, 4)


async def test_the_warmer_renders_the_last_days_settled_hours_before_any_export(
        settings: ApiSettings, influxd: stack.Server, influx_db: str) -> None:
    now = int(time.time() * 1000)
    settled = now - now % HOUR - 2 * HOUR  # the last settled hour
    sensor = ("noise-pudong-0001", "noise", "pudong")
    write_lines(influxd.url, influx_db, [
        rollup_line(*sensor, settled, count=1, stats={"laeq": (50.0, 50.0, 50.0)}),
        district_line("noise", "pudong", settled, count=1, sensors=1)])
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        while app.state.export_warmer.passes == 0:
            await asyncio.sleep(0.05)
        health = (await client.get("/health")).json()["exports"]
        # Rewritten behind the district's rollup: only a kept piece still says 50.
        write_lines(influxd.url, influx_db, [
            rollup_line(*sensor, settled, count=1, stats={"laeq": (51.0, 51.0, 51.0)})])
        response = await client.get("/v1/export/noise.csv")
        as_json = await client.get("/v1/export/noise.json")

    assert response.status_code == 200, response.text
    assert response.text.splitlines()[-1].startswith(f"{open_data.iso(settled)},{sensor[0]},"
                                                     "pudong,1,50.0,50.0,50.0,")
    assert as_json.status_code == 200, as_json.text
    assert [row["values"]["laeq"]["mean"] for row in as_json.json()["rows"]] == [50.0]
    assert health["ok"]
    assert health["detail"].startswith("Export pieces of settled hours kept: 2 ")  # both forms


async def test_a_budget_without_room_for_the_json_keeps_the_csv_and_says_so(
        settings: ApiSettings, influxd: stack.Server, influx_db: str) -> None:
    now = int(time.time() * 1000)
    settled = now - now % HOUR - 2 * HOUR
    sensor = ("noise-pudong-0001", "noise", "pudong")
    write_lines(influxd.url, influx_db, [
        rollup_line(*sensor, settled, count=1, stats={"laeq": (50.0, 50.0, 50.0)}),
        district_line("noise", "pudong", settled, count=1, sensors=1)])
    kind = get_kind("noise")
    async with httpx.AsyncClient(base_url=influxd.url) as client:
        influx = InfluxQuery(HttpxTransport(client), influx_db)
        csv_piece = open_data.render(kind, await influx.query(open_data.hours_statement(
            kind, None, settled, settled + HOUR)), "csv")[0].piece
        kept = open_data.HourPieces(budget=len(csv_piece) + 10)  # a JSON piece is larger
        warmer = ExportWarmer(influx, kept)
        await warmer.warm(now)
        await warmer.warm(now)

    assert kept.get(open_data.PieceKey("noise", settled, "pudong", "csv"), (1, 1)) == csv_piece
    assert (len(kept), kept.refused) == (1, 1)  # the second pass did not offer the JSON again
    assert not warmer.json_fits
    assert "do not fit: only its CSV is kept" in warmer.describe()


async def test_a_settled_hour_without_district_points_is_not_read_when_others_have_them(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    # The ingester writes a district's point with its sensors': a sensor point alone in an
    # hour (here H0 + 1 h) is not one it writes, and stands for an hour with no readings.
    write_lines(influxd.url, influx_db, [
        rollup_line("noise-pudong-0001", "noise", "pudong", H0, count=1,
                    stats={"laeq": (50.0, 50.0, 50.0)}),
        district_line("noise", "pudong", H0, count=1, sensors=1),
        rollup_line("noise-pudong-0001", "noise", "pudong", H0 + HOUR, count=1,
                    stats={"laeq": (60.0, 60.0, 60.0)})])

    assert await laeq_means(api) == [50.0]


async def test_a_range_without_district_points_is_empty_once_the_district_rollup_is_written(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    # A kind that reports daily: the district rollup holds the day before, the range none. A
    # sensor point alone in the range (not one the ingester writes) shows it is not read.
    write_lines(influxd.url, influx_db, [
        rollup_line("noise-pudong-0001", "noise", "pudong", H0 - 24 * HOUR, count=1,
                    stats={"laeq": (50.0, 50.0, 50.0)}),
        district_line("noise", "pudong", H0 - 24 * HOUR, count=1, sensors=1),
        rollup_line("noise-pudong-0001", "noise", "pudong", H0, count=1,
                    stats={"laeq": (60.0, 60.0, 60.0)})])

    assert await laeq_means(api) == []


async def test_an_open_hour_without_district_points_is_not_read_when_others_have_them(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    # As for a settled hour: the hour before this one is still open, and its sensor point
    # alone (not one the ingester writes) shows it is not read.
    now = int(time.time() * 1000)
    settled, open_hour = now - now % HOUR - 2 * HOUR, now - now % HOUR - HOUR
    write_lines(influxd.url, influx_db, [
        rollup_line("noise-pudong-0001", "noise", "pudong", settled, count=1,
                    stats={"laeq": (50.0, 50.0, 50.0)}),
        district_line("noise", "pudong", settled, count=1, sensors=1),
        rollup_line("noise-pudong-0001", "noise", "pudong", open_hour, count=1,
                    stats={"laeq": (60.0, 60.0, 60.0)})])

    response = await api.get("/v1/export/noise.json")
    assert response.status_code == 200, response.text
    assert [row["values"]["laeq"]["mean"] for row in response.json()["rows"]] == [50.0]
