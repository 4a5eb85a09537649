"""Who may do what with incidents: the viewer, operator and ack keys, and bodies refused before
anything is asked of InfluxDB or the broker (the app runs without servers here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.live import LiveState
from api.main import create_app
from urbanpulse.errors import ConfigError
from urbanpulse.messages import Incident, encoder
from urbanpulse.settings import ApiSettings, load
from urbanpulse.signing import sign_incident
from urbanpulse.topics import incident_topic

VIEWER, OPERATOR, ACK = "viewer-key-8c2e4a6b", "operator-key-1f7d3b5e", "ack-key-9a4c6e2d"
ALERT_KEY = "alert-key-4b8d2f6a0c1e3579"
ID = "0123456789abcdef"
MOVE = f"/v1/incidents/{ID}/transitions"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = load(ApiSettings, api_key=ACK, api_viewer_key=VIEWER, api_operator_key=OPERATOR,
                    alert_key=ALERT_KEY, influx_url="http://127.0.0.1:9")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)),
                                 base_url="http://api") as one:
        yield one


def with_key(key: str | None) -> dict[str, str]:
    return {} if key is None else {"X-API-Key": key}


@pytest.mark.parametrize(("key", "status"), [(None, 401), (ACK, 403), ("wrong", 403)])
async def test_reading_incidents_needs_the_viewer_or_operator_key(
        client: httpx.AsyncClient, key: str | None, status: int) -> None:
    for path in ("/v1/incidents", f"/v1/incidents/{ID}", "/v1/incidents/events"):
        response = await client.get(path, headers=with_key(key))
        assert response.status_code == status, (path, response.text)
    if status == 401:
        assert response.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'


@pytest.mark.parametrize(("key", "status", "detail"), [
    (None, 401, "Moving an incident needs the operator key in the X-API-Key header."),
    (VIEWER, 403, "The viewer key only reads incidents; moving one needs the operator key."),
    (ACK, 403, "The key in the X-API-Key header is not the operator key."),
])
async def test_moving_an_incident_needs_the_operator_key(
        client: httpx.AsyncClient, key: str | None, status: int, detail: str) -> None:
    response = await client.post(MOVE, json={"to": "dispatched", "by": "ops"},
                                 headers=with_key(key))
    assert (response.status_code, response.json()) == (status, {"detail": detail})


async def test_the_operator_key_acknowledges_alerts_and_the_viewer_key_does_not(
        client: httpx.AsyncClient) -> None:
    ack = "/v1/alerts/0123456789abcdef/ack"
    viewer = await client.post(ack, json={"by": "ops"}, headers=with_key(VIEWER))
    assert viewer.status_code == 403
    # Past the key, the ack looks the alert up: InfluxDB is not there (port 9), so 503.
    for key in (OPERATOR, ACK):
        response = await client.post(ack, json={"by": "ops"}, headers=with_key(key))
        assert response.status_code == 503, response.text
        assert "InfluxDB" in response.json()["detail"]


@pytest.mark.parametrize(("body", "location"), [
    ({"to": "dispatched", "by": "ops\x1b[2J"}, ["body", "by"]),
    ({"to": "dispatched", "by": "ops", "note": "ok\u202eevil"}, ["body", "note"]),
    ({"to": "resolved", "by": "ops"}, ["body", "to"]),
    ({"to": "dispatched", "by": " "}, ["body", "by"]),
    ({"to": "dispatched", "by": "x" * 101}, ["body", "by"]),
    ({"to": "dispatched", "by": "ops", "note": "x" * 1001}, ["body", "note"]),
    ({"to": "dispatched", "by": "ops", "stage": "closed"}, ["body", "stage"]),
])
async def test_a_malformed_transition_is_422_naming_the_field(
        client: httpx.AsyncClient, body: dict[str, Any], location: list[str]) -> None:
    response = await client.post(MOVE, json=body, headers=with_key(OPERATOR))
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [location]


async def test_an_incident_id_outside_its_pattern_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/incidents/not-an-id", headers=with_key(VIEWER))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "incident_id"]


async def test_without_keys_configured_the_incident_routes_answer_503() -> None:
    app = create_app(load(ApiSettings, alert_key=ALERT_KEY, influx_url="http://127.0.0.1:9"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as bare:
        read = await bare.get("/v1/incidents", headers=with_key(VIEWER))
        move = await bare.post(MOVE, json={"to": "dispatched", "by": "ops"},
                               headers=with_key(OPERATOR))
    assert read.status_code == move.status_code == 503
    assert "URBANPULSE_API_VIEWER_KEY" in read.json()["detail"]
    assert "URBANPULSE_API_OPERATOR_KEY" in move.json()["detail"]


def incident(**changes: Any) -> Incident:
    base = Incident(v=1, incident_id=ID, district="huangpu", street="the-bund",
                    category="flood-control", department="Flood control", cause="rain",
                    severity="high", stage="accepted", opened=1000, ts=1000, stage_since=1000,
                    due=901_000, overrun=False, change="opened")
    return Incident(**{**{name: getattr(base, name) for name in base.__struct_fields__},
                       **changes})


def test_memory_takes_only_signed_incident_states_on_their_own_topic() -> None:
    live = LiveState(root="city", alert_key=ALERT_KEY.encode())
    topic = incident_topic("huangpu", ID, root="city")
    genuine = sign_incident(incident(), ALERT_KEY.encode())
    forged = sign_incident(incident(stage="closed", ts=2000), b"another-key-00000000")
    live.on_incident(topic, encoder.encode(incident(stage="closed", ts=2000)))  # unsigned
    live.on_incident(topic, encoder.encode(forged))
    live.on_incident(incident_topic("pudong", ID, root="city"), encoder.encode(genuine))
    live.on_incident(topic, b"{not json")
    assert live.incident(ID) is None
    assert live.ignored["incident"] == 4
    live.on_incident(topic, encoder.encode(genuine))
    held = live.incident(ID)
    assert held is not None
    assert (held.stage, held.sig) == ("accepted", None)
    live.on_incident(topic, b"")  # a cleared topic ends nothing
    closed = sign_incident(incident(stage="closed", ts=3000, change="transition", due=None),
                           ALERT_KEY.encode())
    live.on_incident(topic, encoder.encode(closed))
    live.on_incident(topic, encoder.encode(genuine))  # an older state does not reopen it
    held = live.incident(ID)
    assert held is not None
    assert held.stage == "closed"
    assert live.incidents == {}


def test_one_value_for_the_viewer_and_the_operator_key_stops_the_api() -> None:
    with pytest.raises(ConfigError, match=r"URBANPULSE_API_OPERATOR_KEY \(value hidden\).*"
                                          r"the same as URBANPULSE_API_VIEWER_KEY"):
        load(ApiSettings, api_viewer_key=VIEWER, api_operator_key=VIEWER)
