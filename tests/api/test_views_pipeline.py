"""The district views over data the real pipeline wrote: simulator → mosquitto → ingest → InfluxDB.

The simulator runs twice with the same seed: once to a JSONL file, from which
the test computes what the summary must say, and once to the broker, which the
in-process ingester writes to InfluxDB.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import fmean
from typing import Any

import httpx

from ingest.service import Ingester
from ops import stack
from tests.conftest import influx_rows, wait_until
from urbanpulse.standards import POLLUTANTS, aqi

HOUR = 3_600_000
SIM_FLAGS = ["--seed", "5", "--scale", "0.3", "--duration", "1800", "--speed", "0"]


async def simulate(env: dict[str, str], *flags: str) -> None:
    """Run the simulator to its end without blocking the loop the ingester runs in."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ops", "--log-level", "WARNING", "sim", *SIM_FLAGS,
        *flags, env=env)
    assert await asyncio.wait_for(process.wait(), 180) == 0


def calibrated(url: str, db: str) -> dict[tuple[str, int], dict[str, float]]:
    """The calibrated particulates the ingester stored, by (sensor, device time): the
    summary's AQI is of `pm25_cal`/`pm10_cal` (docs/calibration.md), which the file lacks."""
    return {(row["sensor"], row["time"]): {"pm25": row["pm25_cal"], "pm10": row["pm10_cal"]}
            for row in influx_rows(url, db, 'SELECT "pm25_cal", "pm10_cal" FROM "air" '
                                   'GROUP BY "sensor"')}


def expected_views(lines: list[str], at: int,
                   corrected: dict[tuple[str, int], dict[str, float]]
                   ) -> dict[str, dict[str, Any]]:
    """Return per district the parking counts and AQI the summary must show at `at`."""
    births: dict[str, dict[str, Any]] = {}
    newest: dict[str, dict[str, Any]] = {}
    for line in lines:
        message = json.loads(line)
        payload = message["payload"]
        if message["retain"]:
            births[payload["sensor"]] = payload
        elif payload["ts"] <= at and payload["ts"] >= newest.get(payload["sensor"], {}).get(
                "ts", -1):
            newest[payload["sensor"]] = payload
    views: dict[str, dict[str, Any]] = {}
    for sensor, reading in newest.items():
        birth = births[sensor]
        if at - reading["ts"] > 3 * birth["interval_s"] * 1000:
            continue
        view = views.setdefault(birth["district"], {"total": 0, "free": 0, "air": []})
        values = reading["values"]
        if birth["kind"] == "parking" and "total_spot_number" in values:
            view["total"] += int(values["total_spot_number"])
            view["free"] += int(values["available_spot_number"])
        elif birth["kind"] == "parking" and "occupied" in values:
            view["total"] += 1
            view["free"] += values["occupied"] < 0.5
        elif birth["kind"] == "air":
            view["air"].append({**values, **corrected[sensor, reading["ts"]]})
    for view in views.values():
        means = {p: fmean(v[p] for v in view["air"] if p in v) for p in POLLUTANTS
                 if any(p in v for v in view["air"])}
        view["aqi"] = aqi(means).aqi
    return views


async def test_summary_matches_what_the_simulator_published(
        ingester: Ingester, service_env: dict[str, str], influxd: stack.Server,
        influx_db: str, api: httpx.AsyncClient, tmp_path: Path) -> None:
    start_s = int(time.time()) // 60 * 60 - 3600
    start = datetime.fromtimestamp(start_s, UTC).isoformat()
    published = tmp_path / "published.jsonl"
    await simulate(service_env, "--start", start, "--no-clean-signal",
                   "--output", f"jsonl:{published}")
    lines = published.read_text().splitlines()
    await simulate(service_env, "--start", start)
    readings = sum(1 for line in lines if not json.loads(line)["retain"])
    await wait_until(lambda: len(influx_rows(
        influxd.url, influx_db, 'SELECT "seq" FROM /.*/ WHERE "seq" >= 0')) >= readings, 60)
    # And the hourly rollups the export reads, the open hour included.
    await wait_until(lambda: sum(row["sum"] for row in influx_rows(
        influxd.url, influx_db, 'SELECT sum("count") FROM /^[a-z-]+_1h$/')) >= readings, 60)

    at = (start_s + 1800) * 1000 - 1
    expected = expected_views(lines, at, calibrated(influxd.url, influx_db))
    iso = datetime.fromtimestamp(at / 1000, UTC).isoformat()
    districts = (await api.get("/v1/districts")).json()["items"]
    assert {item["district"] for item in districts} == set(expected)
    for district, view in expected.items():
        response = await api.get(f"/v1/districts/{district}/summary", params={"at": iso})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["parking"]["total_spaces"], body["parking"]["free_spaces"]) == (
            view["total"], view["free"]), district
        assert body["air"]["aqi"] == view["aqi"], district
        assert body["alerts"]["total"] >= 0
    first = min(expected)
    guidance = await api.get("/v1/parking/guidance", params={"district": first, "at": iso})
    assert guidance.status_code == 200
    lots = guidance.json()["items"]
    assert lots
    assert {lot["district"] for lot in lots} == {first}
    export = await api.get("/v1/export/parking.csv", params={
        "start": start, "end": datetime.fromtimestamp(at / 1000, UTC).isoformat()})
    assert export.status_code == 200
    hours = {(payload["sensor"], payload["ts"] // HOUR) for line in lines
             if not (message := json.loads(line))["retain"]
             and (payload := message["payload"])["kind"] == "parking" and payload["ts"] <= at}
    header, *rows = [line.split(",") for line in export.text.splitlines()
                     if not line.startswith("#")]
    assert header[:2] == ["hour_start", "sensor"]
    assert {(row[1], int(datetime.fromisoformat(row[0]).timestamp() * 1000) // HOUR)
            for row in rows} == hours

