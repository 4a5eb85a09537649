"""Fixtures of the api tests: settings for the session servers, an ASGI client, test data.

Data reaches InfluxDB the way the ingester writes it: line protocol from
`encode_point`, `POST /write?precision=ms`, births in `sensors` and readings in
the measurement named after the kind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

import httpx
import pytest

from api.main import create_app
from ops import stack
from urbanpulse.lineprotocol import FieldValue, encode_point
from urbanpulse.settings import ApiSettings, load

T0 = int(datetime(2025, 11, 22, tzinfo=UTC).timestamp() * 1000)
"""Time of the first test reading, epoch ms (2025-11-22T00:00:00Z)."""
MINUTE = 60_000


def write_lines(url: str, db: str, lines: list[str]) -> None:
    """Write line protocol to InfluxDB with millisecond precision, expecting 204."""
    response = httpx.post(f"{url}/write", params={"db": db, "precision": "ms"},
                          content="\n".join(lines).encode(), timeout=30)
    assert response.status_code == 204, response.text


def birth_line(sensor: str, kind: str, district: str, ts: int, *, site: str = "site-a",
               zone: str = "2", lat: float = 31.2, lon: float = 121.5, interval_s: int = 60,
               **attributes: FieldValue) -> str:
    """Return the `sensors` point the ingester writes for one birth."""
    fields: dict[str, FieldValue] = {"lat": lat, "lon": lon, "site": site, "zone": zone,
                                     "interval_s": interval_s, **attributes}
    return encode_point("sensors", {"sensor": sensor, "kind": kind, "district": district},
                        fields, ts)


def reading_line(sensor: str, kind: str, district: str, ts: int, *, seq: int,
                 values: Mapping[str, float]) -> str:
    """Return the point the ingester writes for one reading."""
    return encode_point(kind, {"sensor": sensor, "district": district},
                        {**values, "seq": seq}, ts)


def closed_url() -> str:
    """Return an HTTP URL on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{stack.free_port()}"


ALERT_KEY = "alert-key-5d1e9b0c7a3f42e8"
"""The key the api signs acks with and checks alert states against, in these tests."""


@pytest.fixture
def settings(mosquitto: stack.Server, influxd: stack.Server, influx_db: str,
             topic_root: str) -> ApiSettings:
    """Api settings pointing at the session's broker and a fresh database."""
    return load(ApiSettings, mqtt_host="127.0.0.1", mqtt_port=mosquitto.port,
                topic_root=topic_root, influx_url=influxd.url, influx_db=influx_db,
                alert_key=ALERT_KEY)


@pytest.fixture
async def api(settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app for `settings` in process."""
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


def error_locs(response: httpx.Response) -> list[list[str]]:
    """Return the `loc` of every error in a 422 answer."""
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]
