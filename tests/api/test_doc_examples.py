"""What README.md and docs/contract.md promise of the api, on real servers.

The README's export examples answer with rows on a stack that has just started;
a birth's free text with line breaks is stored and served as sent.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from ops import stack
from tests.api.city import CityWriter
from tests.api.conftest import MINUTE
from tests.conftest import publish_all

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CONTRACT = (ROOT / "docs" / "contract.md").read_text()
EXPORTS = re.findall(r"^curl -s (.*?/v1/export/.*?)(?:\s+#.*)?$", README, re.MULTILINE)


def _expand(word: str) -> str:
    """Return a README word as the shell hands it to curl (quotes and `$(date …)` done)."""
    return subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, text=True,
                          check=True).stdout


def test_the_readme_shows_export_examples() -> None:
    assert len(EXPORTS) >= 2


@pytest.mark.parametrize("word", EXPORTS)
async def test_readme_export_returns_rows_on_a_fresh_stack(api: httpx.AsyncClient,
                                                           influxd: stack.Server,
                                                           influx_db: str, word: str) -> None:
    # A stack started a few minutes ago: the simulator's start is now (its default).
    now = int(time.time() * 1000)
    sensor = "air-pudong-0001"
    city = CityWriter()
    city.birth(sensor, "air", "pudong")
    for i in range(3):
        city.reading(sensor, "air", "pudong", now - i * MINUTE,
                     pm25=30.0 + i, pm10=50.0, no2=20.0, o3=60.0)
    city.write(influxd.url, influx_db)
    url = _expand(word)
    assert "localhost:8000" in url
    assert "$" not in url

    response = await api.get(url.split("localhost:8000", 1)[1])

    assert response.status_code == 200, response.text
    rows = [row for row in csv.reader(io.StringIO(response.text))
            if row and not row[0].startswith("#")]
    assert len(rows) >= 2, response.text  # a header and at least one hour of the sensor
    assert any(sensor in row for row in rows[1:])



@pytest.mark.usefixtures("ingester")
async def test_a_site_with_line_breaks_is_stored_and_served_as_sent(
        api: httpx.AsyncClient, mosquitto: stack.Server, topic_root: str) -> None:
    assert "line breaks in a birth's `site`" in CONTRACT
    site, operator = "pier 3\nnorth gate\r\n", "line one\nline two"
    birth = {"v": 1, "sensor": "air-pudong-0001", "kind": "air", "district": "pudong",
             "site": site, "lat": 31.2, "lon": 121.5, "zone": "2", "interval_s": 60,
             "ts": int(time.time() * 1000), "attributes": {"operator": operator}}
    topic = f"{topic_root}/sensors/pudong/air/air-pudong-0001"
    publish_all(mosquitto.port, [(topic, json.dumps(birth).encode())], retain=True)
    try:
        async def served() -> httpx.Response:
            return await api.get("/v1/sensors/air-pudong-0001")

        deadline = time.monotonic() + 20
        while (response := await served()).status_code != 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        publish_all(mosquitto.port, [(topic, b"")], retain=True)

    assert response.status_code == 200, response.text
    assert response.json()["site"] == site
    assert response.json()["attributes"]["operator"] == operator
