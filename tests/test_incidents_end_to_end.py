"""Incidents end to end: real mosquitto, `urbanpulse ingest`, InfluxDB and the api.

A storm's first links in Huangpu (a rain gauge past 50 mm in 3 h, an underpass
ponded past 25 cm) fire two alerts, which open one flood-control incident. An
operator moves it through its stages with the operator key, while the viewer
key may only read and no key gets nothing; the audit trail says who did what
and when; the retained state on `city/incidents/…` and the server-sent events
follow each move, and a forged retained state (signed with another key) reaches
neither the stream nor the api; the dispatched stage overruns its (one-second) limit and
fires an alert; and an ingester restarted in the middle takes the incident back
from InfluxDB, so the next moves still reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ops import stack
from tests.api.test_alerts import read_events, serve
from tests.conftest import Recorder, influx_rows, publish_all, wait_until
from tests.ingest.processes import IngestProcess, ingest_env
from urbanpulse.messages import Incident, Reading, SensorBirth, encoder, incident_decoder
from urbanpulse.settings import ApiSettings, load
from urbanpulse.signing import is_signed_incident, sign_incident
from urbanpulse.topics import (
    Channel,
    alert_subscription,
    incident_subscription,
    incident_topic,
    reading_topic,
    sensor_topic,
)

pytestmark = pytest.mark.services

ALERT_KEY = "alert-key-e2e-6f1b9d3c0a7e4b25"
VIEWER = "viewer-key-2b8e5c1f7d3a9064"
OPERATOR = "operator-key-9d4a7f2c6e1b3085"
ACK_KEY = "ack-key-5e3c9a1d7f2b6048"
RULES = {"rules": [
    {"name": "storm-rain", "type": "threshold", "kind": "rain", "metric": "rain_3h",
     "above": 50, "clear": 40, "severity": "high", "detects": ["cloudburst"]},
    {"name": "storm-underpass", "type": "threshold", "kind": "ponding", "metric": "depth_cm",
     "above": 25, "clear": 20, "severity": "critical", "detects": ["cloudburst-ponding"]},
]}
DISPATCH = {"to": "dispatched", "by": "duty-officer", "note": "Huangpu drainage crew on the way."}
GAUGES = [("rain", "rain-huangpu-0001", "the-bund", {"rain_3h": 62.0}),
          ("ponding", "ponding-huangpu-0001", "peoples-square", {"depth_cm": 31.0})]


def storm_messages(root: str) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """Return the gauges' births and their storm readings."""
    now = int(time.time() * 1000)
    births, readings = [], []
    for kind, sensor, site, values in GAUGES:
        birth = SensorBirth(v=1, sensor=sensor, kind=kind, district="huangpu", site=site,
                            lat=31.23, lon=121.48, zone="cbd", interval_s=300, ts=now - 2000)
        births.append((sensor_topic(Channel.SENSORS, "huangpu", kind, sensor, root=root),
                       encoder.encode(birth)))
        reading = Reading(v=1, sensor=sensor, kind=kind, district="huangpu", ts=now - 1000,
                          seq=1, values=values)
        readings.append((reading_topic("huangpu", kind, sensor, root=root),
                         encoder.encode(reading)))
    return births, readings


async def poll(client: httpx.AsyncClient, url: str, ready: Any, timeout: float = 15) -> Any:
    """GET `url` with the viewer key until `ready(body)` holds; return the body."""
    body: Any = None
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(url, headers={"X-API-Key": VIEWER})
        assert response.status_code == 200, response.text
        body = response.json()
        if ready(body):
            return body
        assert time.monotonic() < deadline, f"{url} never showed what was awaited: {body}"
        await asyncio.sleep(0.1)


async def move(client: httpx.AsyncClient, incident_id: str, body: dict[str, str],
               key: str | None = OPERATOR) -> httpx.Response:
    headers = {} if key is None else {"X-API-Key": key}
    return await client.post(f"/v1/incidents/{incident_id}/transitions", json=body,
                             headers=headers)


@contextlib.asynccontextmanager
async def event_stream(client: httpx.AsyncClient) -> AsyncIterator[AsyncIterator[str]]:
    async with client.stream("GET", "/v1/incidents/events",
                             headers={"X-API-Key": VIEWER}) as response:
        assert response.status_code == 200, await response.aread()
        yield response.aiter_lines()


def forgery(root: str) -> tuple[str, bytes]:
    """Return a retained incident state signed with another key, as a device account might."""
    forged = Incident(v=1, incident_id="0123456789abcdef", district="huangpu", street="",
                      category="flood-control", department="Flood control", cause="forged",
                      severity="critical", stage="accepted", opened=1, ts=1, stage_since=1,
                      due=None, overrun=False, change="opened")
    return (incident_topic("huangpu", forged.incident_id, root=root),
            encoder.encode(sign_incident(forged, b"not-the-alert-key-000")))


def retained_states(port: int, root: str) -> list[Any]:
    """Subscribe afresh and return the incident states the broker holds retained."""
    recorder = Recorder(port, incident_subscription(root=root))
    time.sleep(0.5)
    recorder.close()
    return [incident_decoder.decode(payload) for _, payload in recorder.messages if payload]


async def opens_one_flood_incident(client: httpx.AsyncClient) -> str:
    """Wait for the storm's incident; check what it says; return its id."""
    page = await poll(client, "/v1/incidents?open=true", lambda body: body["total"] == 1
                      and body["items"][0]["alerts_total"] == 2 and body["items"][0]["street"])
    (incident,) = page["items"]
    assert (incident["district"], incident["category"], incident["stage"]) == (
        "huangpu", "flood-control", "accepted")
    assert incident["street"] == "the-bund"  # the gauge whose alert came first
    assert incident["severity"] == "critical"
    return str(incident["incident_id"])


async def refuses_wrong_keys_and_illegal_moves(client: httpx.AsyncClient,
                                                incident_id: str) -> None:
    """No key is 401, the ack key reads no incidents, the viewer key moves none; 409s."""
    assert (await client.get("/v1/incidents")).status_code == 401
    assert (await client.get("/v1/incidents", headers={"X-API-Key": ACK_KEY})).status_code == 403
    assert (await move(client, incident_id, DISPATCH, key=None)).status_code == 401
    viewer = await move(client, incident_id, DISPATCH, key=VIEWER)
    assert viewer.status_code == 403
    assert viewer.json()["detail"] == ("The viewer key only reads incidents; moving one needs "
                                       "the operator key.")
    illegal = await move(client, incident_id, {"to": "handling", "by": "duty-officer"})
    assert illegal.status_code == 409
    assert illegal.json()["detail"] == (f"Incident {incident_id} is accepted: it can move to "
                                        "dispatched or closed, not to handling.")


async def dispatch_while_streaming(client: httpx.AsyncClient, incident_id: str) -> None:
    """Dispatch with the operator key; the event stream shows the open incident, then it."""
    async with event_stream(client) as events:
        (first,) = await read_events(events, 1)  # the retained open incident, not the forgery
        assert (first[0], first[1]["incident_id"], first[1]["stage"]) == (
            "incident", incident_id, "accepted")
        moved = await move(client, incident_id, DISPATCH)
        assert moved.status_code == 200, moved.text
        assert {key: moved.json()[key] for key in ("stage", "by", "note", "change")} == {
            "stage": "dispatched", "by": DISPATCH["by"], "note": DISPATCH["note"],
            "change": "transition"}
        (change,) = await read_events(events, 1)
        assert (change[1]["incident_id"], change[1]["stage"], change[1]["by"]) == (
            incident_id, "dispatched", "duty-officer")


async def check_trail(client: httpx.AsyncClient, incident_id: str) -> None:
    """The audit trail names who did what, in order; the alerts are the storm's two."""
    detail = await poll(client, f"/v1/incidents/{incident_id}", lambda body: len(
        [entry for entry in body["audit"] if entry["action"] == "transition"]) == 3)
    trail = [(entry["action"], entry["by"], entry.get("to"), entry.get("note"))
             for entry in detail["audit"]]
    assert trail[:2] == [("opened", "urbanpulse", None, None),
                         ("alert", "urbanpulse", None, None)]
    assert [step for step in trail if step[0] != "alert"][1:] == [
        ("transition", "duty-officer", "dispatched", DISPATCH["note"]),
        ("overrun", "urbanpulse", None, None),
        ("transition", "crew-lead", "handling", None),
        ("transition", "duty-officer", "closed", "Underpass open again.")]
    stamps = [entry["ts"] for entry in detail["audit"]]
    assert stamps == sorted(stamps)
    assert [(episode["sensor"], episode["rule"]) for episode in detail["alerts"]] == [
        ("rain-huangpu-0001", "storm-rain"), ("ponding-huangpu-0001", "storm-underpass")]


def overrun_states(influxd: stack.Server, database: str) -> list[str]:
    """Return the states of the dispatched stage's overrun alert in the `alerts` record."""
    return [row["state"] for row in influx_rows(
        influxd.url, database, 'SELECT "since", "state" FROM "alerts" WHERE "rule" = '
                               "'dispatched-overrun'")]


async def test_an_incident_from_alerts_to_closed_through_the_whole_stack(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(RULES), encoding="utf-8")
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=influx_db,
                     root=topic_root, alert_key=ALERT_KEY, ingest_rules=str(rules),
                     ingest_flush_interval_s=0.05, ingest_incident_accepted_limit_s=600,
                     ingest_incident_dispatched_limit_s=1,
                     ingest_incident_handling_limit_s=600)
    ingester = IngestProcess(env, tmp_path, mosquitto.port)
    alerts = Recorder(mosquitto.port, alert_subscription(root=topic_root, kind="incident"))
    settings = load(ApiSettings, mqtt_host="127.0.0.1", mqtt_port=mosquitto.port,
                    topic_root=topic_root, influx_url=influxd.url, influx_db=influx_db,
                    api_key=ACK_KEY, api_viewer_key=VIEWER, api_operator_key=OPERATOR,
                    alert_key=ALERT_KEY, api_ack_timeout_s=10)
    try:
        ingester.start()
        births, readings = storm_messages(topic_root)
        publish_all(mosquitto.port, births, retain=True)
        publish_all(mosquitto.port, readings)
        async with serve(settings) as served:
            client = served.client
            incident_id = await opens_one_flood_incident(client)
            await refuses_wrong_keys_and_illegal_moves(client, incident_id)
            publish_all(mosquitto.port, [forgery(topic_root)], retain=True)
            await dispatch_while_streaming(client, incident_id)
            held, forged = sorted(retained_states(mosquitto.port, topic_root),
                                  key=lambda state: state.incident_id != incident_id)
            assert is_signed_incident(held, ALERT_KEY.encode())
            assert not is_signed_incident(forged, ALERT_KEY.encode())
            publish_all(mosquitto.port, [(forgery(topic_root)[0], b"")], retain=True)
            assert (held.incident_id, held.stage) == (incident_id, "dispatched")
            # The dispatched stage overruns its one-second limit: an alert like any other.
            await wait_until(lambda: any("dispatched-overrun" in topic for topic, payload
                                         in alerts.messages if payload), 10)
            await wait_until(lambda: overrun_states(influxd, influx_db) == ["firing"], 10)

            ingester.terminate(20)  # the restart: incidents come back from InfluxDB only
            ingester.start()

            handling = await move(client, incident_id, {"to": "handling", "by": "crew-lead"})
            assert handling.status_code == 200, handling.text
            assert handling.json()["overrun"] is False
            closing = await move(client, incident_id, {"to": "closed", "by": "duty-officer",
                                                       "note": "Underpass open again."})
            assert closing.status_code == 200, closing.text
            again = await move(client, incident_id, {"to": "closed", "by": "duty-officer"})
            assert again.status_code == 409
            assert again.json()["detail"] == (f"Incident {incident_id} is closed: a closed "
                                              "incident stays closed.")
            await check_trail(client, incident_id)
            assert overrun_states(influxd, influx_db) == ["firing", "resolved"]
            assert retained_states(mosquitto.port, topic_root) == []  # closed: topic cleared
            closed = await poll(client, "/v1/incidents?open=false",
                                lambda body: body["total"] == 1)
            assert closed["items"][0]["stage"] == "closed"
    finally:
        alerts.close()
        ingester.close()
