"""The app as a whole: lifespan, OpenAPI document, and `main` serving over real HTTP."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.influx import InfluxQuery
from api.kind_views import views
from api.main import create_app, main
from ops import stack
from tests.conftest import wait_until
from urbanpulse.kinds import KINDS
from urbanpulse.settings import ApiSettings, load

ROUTES = {
    "/health": "Health",
    "/v1/sensors": "SensorPage",
    "/v1/sensors/{sensor_id}": "SensorDetail",
    "/v1/sensors/{sensor_id}/readings": "Readings",
    "/v1/alerts": "AlertPage",
    "/v1/alerts/{alert_id}": "AlertDetail",
    "/v1/districts": "DistrictList",
    "/v1/districts/{district}/summary": "DistrictSummary",
    "/v1/parking/guidance": "Guidance",
    "/v1/export/{kind}.json": "Export",
    "/v1/incidents": "IncidentPage",
    "/v1/incidents/{incident_id}": "IncidentDetail",
}
VIEWS = {f"/v1/{kind}/{name}" for kind, name in views()}
"""The lists the registered kinds declare as views (`summary.VIEWS`), one route each."""
STREAM = "/v1/alerts/stream"
API_MD = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
ACK = "/v1/alerts/{alert_id}/ack"
CSV = "/v1/export/{kind}.csv"
INCIDENT_EVENTS = "/v1/incidents/events"
TRANSITIONS = "/v1/incidents/{incident_id}/transitions"


async def test_lifespan_shares_one_influx_client_and_closes_it(settings: ApiSettings) -> None:
    app = create_app(settings)

    async with app.router.lifespan_context(app):
        shared = app.state.influx
        assert isinstance(shared, InfluxQuery)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://api") as client:
            first = await client.get("/v1/sensors")
            await wait_until(lambda: app.state.live.loaded)  # else /health says it is loading
            second = await client.get("/health")
        assert app.state.influx is shared

    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert not hasattr(app.state, "influx")


def test_openapi_documents_a_response_model_for_every_route() -> None:
    schema = create_app(load(ApiSettings)).openapi()

    for path, model in ROUTES.items():
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"] == {"$ref": f"#/components/schemas/{model}"}
    for path in VIEWS:
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"]["$ref"].startswith("#/components/schemas/")
    for path in (*ROUTES, *VIEWS, STREAM, CSV, INCIDENT_EVENTS):
        responses = schema["paths"][path]["get"]["responses"]
        assert "503" in responses
    assert "/v1/parking/guidance" in VIEWS
    assert set(schema["paths"]) == {*ROUTES, *VIEWS, STREAM, ACK, CSV, INCIDENT_EVENTS,
                                    TRANSITIONS}


def test_openapi_documents_the_csv_export_and_bounded_parameters() -> None:
    paths = create_app(load(ApiSettings)).openapi()["paths"]

    csv = paths[CSV]["get"]["responses"]["200"]["content"]
    assert csv == {"text/csv": {"schema": {"type": "string"}}}
    kind = next(p for p in paths[CSV]["get"]["parameters"] if p["name"] == "kind")
    assert kind["schema"]["enum"] == list(KINDS)
    assert {"air", "energy", "noise", "parking", "water", "streetlight"} <= set(KINDS)
    guidance = {p["name"]: p["schema"] for p in paths["/v1/parking/guidance"]["get"]["parameters"]}
    assert (guidance["limit"]["maximum"], guidance["radius_m"]["maximum"]) == (500, 50_000)
    assert "pattern" in guidance["near"]
    assert "pattern" in guidance["at"]


def test_openapi_documents_the_alert_stream_and_the_ack() -> None:
    paths = create_app(load(ApiSettings)).openapi()["paths"]

    stream = paths[STREAM]["get"]["responses"]
    assert set(stream["200"]["content"]) == {"text/event-stream"}
    assert stream["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorDetail"}
    ack = paths[ACK]["post"]
    ok = ack["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Alert"}
    assert {"401", "403", "404", "409", "413", "503", "504"} <= set(ack["responses"])
    assert ack["security"] == [{"ApiKey": []}]
    body = ack["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/AckRequest"}


def test_main_returns_non_zero_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        code = main(load(ApiSettings, api_host="127.0.0.1", api_port=port))

    assert code != 0


SERVE = ("from api.main import main; from urbanpulse.settings import ApiSettings, load; "
         "raise SystemExit(main(load(ApiSettings)))")


def test_main_serves_until_sigterm(mosquitto: stack.Server, influxd: stack.Server,
                                   influx_db: str) -> None:
    port = stack.free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("URBANPULSE_")}
    env.update({
        "URBANPULSE_API_PORT": str(port), "URBANPULSE_MQTT_HOST": "127.0.0.1",
        "URBANPULSE_MQTT_PORT": str(mosquitto.port), "URBANPULSE_INFLUX_URL": influxd.url,
        "URBANPULSE_INFLUX_DB": influx_db,
    })
    process = subprocess.Popen([sys.executable, "-c", SERVE], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        response = _wait_for_health(f"http://127.0.0.1:{port}/health", process)
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")
    assert b'"GET /health HTTP/1.1" 200' not in output  # uvicorn's line a request is off


def _wait_for_health(url: str, process: subprocess.Popen[bytes],
                     timeout: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the api exited early with code {process.returncode}")
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"the api did not answer {url} within {timeout:g} s")


async def test_docs_load_swagger_ui_from_the_api_itself(api: httpx.AsyncClient) -> None:
    page = await api.get("/docs")

    assert page.status_code == 200
    # Every src and href of the page is a path on this server: /docs works offline.
    links = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert links, page.text
    assert [link for link in links if "//" in link] == []
    assert "https://" not in page.text
    assert "'/openapi.json'" in page.text
    for link in links:
        asset = await api.get(link)
        assert asset.status_code == 200, link
        assert asset.content, link
    assert {link.rsplit(".", 1)[-1] for link in links} >= {"js", "css"}
    script = await api.get(next(link for link in links if link.endswith(".js")))
    assert "SwaggerUIBundle" in script.text  # the real bundle, not an error page


async def test_redoc_is_off_rather_than_loaded_from_a_cdn(api: httpx.AsyncClient) -> None:
    assert (await api.get("/redoc")).status_code == 404


async def test_the_swagger_ui_redirect_page_is_served(api: httpx.AsyncClient) -> None:
    page = await api.get("/docs/oauth2-redirect")

    assert page.status_code == 200
    assert "https://" not in page.text


@pytest.mark.parametrize(("body", "status"), [
    (b'{"by": "\xff\xfe"}', 400),             # not UTF-8: the body is no text at all
    (b'{"by": "ops", "note": "\xe9"}', 400),  # Latin-1, not UTF-8
    (b"\xff\xfe", 422),                       # decodes as UTF-16, then is no JSON
    (b"{by: ops}", 422),
])
async def test_ack_body_errors_are_the_documented_ones(body: bytes, status: int) -> None:
    keyed = load(ApiSettings, api_key="k-3f9a1c7e5b2d48a6")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(keyed)),
                                 base_url="http://api") as client:
        response = await client.post("/v1/alerts/0123456789abcdef/ack", content=body, headers={
            "X-API-Key": "k-3f9a1c7e5b2d48a6", "Content-Type": "application/json"})

    assert response.status_code == status
    if status == 422:
        assert response.json()["detail"][0]["type"] == "json_invalid"
    # docs/api.md's ack table says when each comes.
    said = "There was an error parsing the body" if status == 400 else "json_invalid"
    assert any(line.startswith(f"| {status} |") and said in line
               for line in API_MD.splitlines())
