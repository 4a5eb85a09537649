"""`/v1/alerts`: list, detail, ack and the live stream, against the real servers.

Alerts come from the in-process `ingester` (shipped default rules): a parking
`occupancy` above 0.95 fires `lot-nearly-full` at once, below 0.90 resolves it.
The api runs under uvicorn in the test's event loop, so the stream is real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from pydantic import SecretStr

from api.alert_store import AlertStore, _alerts
from api.broker import acknowledge
from api.main import create_app
from api.models import Alert
from api.routes import alerts as alert_routes
from ingest.alerts.engine import fingerprint
from ingest.service import Ingester
from ops import stack
from tests.api.conftest import error_locs, write_lines
from tests.conftest import Recorder, publish_all, wait_until
from urbanpulse.errors import ConfigError
from urbanpulse.influxql import Series
from urbanpulse.lineprotocol import encode_point
from urbanpulse.messages import Alert as AlertMessage
from urbanpulse.messages import Reading, alert_decoder, encoder
from urbanpulse.settings import ApiSettings, IngestSettings, load
from urbanpulse.signing import sign_alert
from urbanpulse.topics import alert_topic, reading_topic

KEY = "k-3f9a1c7e5b2d48a6"
ALERT_KEY = "alert-key-5d1e9b0c7a3f42e8"
RULE = "lot-nearly-full"
LOT_A = ("parking-pudong-0001", "pudong")
LOT_B = ("parking-xuhui-0001", "xuhui")


@pytest.fixture
def ingest_settings(ingest_settings: IngestSettings) -> IngestSettings:
    """The test ingester's settings, with the alert key it shares with the api."""
    return ingest_settings.model_copy(update={"alert_key": SecretStr(ALERT_KEY)})


@pytest.fixture
def keyed(mosquitto: stack.Server, influxd: stack.Server, influx_db: str,
          topic_root: str) -> ApiSettings:
    """Api settings for the session's servers, with an API key and the alert key."""
    return load(ApiSettings, mqtt_host="127.0.0.1", mqtt_port=mosquitto.port,
                topic_root=topic_root, influx_url=influxd.url, influx_db=influx_db,
                api_key=KEY, alert_key=ALERT_KEY, api_ack_timeout_s=5)


class Served:
    """The api served by uvicorn in the test's loop, and a client for it."""

    def __init__(self, server: uvicorn.Server, client: httpx.AsyncClient) -> None:
        self.server = server
        self.client = client

    def open_requests(self) -> int:
        return len(self.server.server_state.tasks)


@asynccontextmanager
async def serve(settings: ApiSettings) -> AsyncIterator[Served]:
    """Serve the app for `settings` on a free port until the block ends."""
    port = stack.free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), 10)
    assert server.started, "uvicorn did not start"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     timeout=15) as client:
            yield Served(server, client)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@pytest.fixture
async def served(keyed: ApiSettings) -> AsyncIterator[Served]:
    """The api with a key, served over real HTTP."""
    async with serve(keyed) as one:
        yield one


def lot_reading(lot: tuple[str, str], occupancy: float, *, seq: int,
                ts: int | None = None) -> tuple[str, str, bytes]:
    sensor, district = lot
    reading = Reading(v=1, sensor=sensor, kind="parking", district=district,
                      ts=ts or int(time.time() * 1000) - 10_000 + seq, seq=seq,
                      values={"occupancy": occupancy})
    return sensor, district, encoder.encode(reading)


def publish_lots(port: int, root: str, *readings: tuple[str, str, bytes]) -> None:
    publish_all(port, [(reading_topic(district, "parking", sensor, root=root), payload)
                       for sensor, district, payload in readings])


async def get_ok(client: httpx.AsyncClient, url: str) -> Any:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


async def wait_for_alerts(client: httpx.AsyncClient, query: str, count: int) -> list[Any]:
    """Poll the list until `count` alerts match `query` (InfluxDB lags the broker a little)."""
    items: list[Any] = []

    async def poll() -> None:
        nonlocal items
        while len(items) != count:
            items = (await get_ok(client, f"/v1/alerts{query}"))["items"]
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), 20)
    return items


@pytest.fixture
async def two_firing(served: Served, ingester: Ingester, mosquitto: stack.Server,
                     topic_root: str) -> dict[str, str]:
    """Both lots above 0.95: two firing alerts; return alert id by sensor."""
    publish_lots(mosquitto.port, topic_root, lot_reading(LOT_A, 0.97, seq=1),
                 lot_reading(LOT_B, 0.99, seq=1))
    items = await wait_for_alerts(served.client, "?state=firing", 2)
    return {item["sensor"]: item["alert_id"] for item in items}


def ack(served: Served, alert_id: str, body: Any, key: str | None = KEY) -> Any:
    headers = {} if key is None else {"X-API-Key": key}
    return served.client.post(f"/v1/alerts/{alert_id}/ack", json=body, headers=headers)


# ---------------------------------------------------------------------- list and detail

async def test_list_shows_current_state_newest_first_and_filters(
        served: Served, two_firing: dict[str, str], mosquitto: stack.Server,
        topic_root: str) -> None:
    publish_lots(mosquitto.port, topic_root, lot_reading(LOT_B, 0.5, seq=2))
    await wait_for_alerts(served.client, "?state=resolved", 1)

    body = await get_ok(served.client, "/v1/alerts")
    assert [(item["sensor"], item["state"]) for item in body["items"]] == [
        (LOT_B[0], "resolved"), (LOT_A[0], "firing")]
    assert (body["total"], body["limit"], body["offset"]) == (2, 100, 0)
    first = body["items"][1]
    assert first == {
        "alert_id": two_firing[LOT_A[0]], "rule": RULE, "sensor": LOT_A[0], "kind": "parking",
        "district": "pudong", "state": "firing", "severity": "info", "ts": first["ts"],
        "since": first["ts"], "message": first["message"], "value": 0.97, "acked_by": None,
        "note": None}
    for query, expected in [
        ("?state=firing", [LOT_A[0]]), ("?state=resolved", [LOT_B[0]]),
        ("?state=pending", []), ("?district=xuhui", [LOT_B[0]]), ("?kind=air", []),
        ("?severity=info", [LOT_B[0], LOT_A[0]]), ("?severity=critical", []),
        (f"?sensor={LOT_A[0]}", [LOT_A[0]]), ("?limit=1&offset=1", [LOT_A[0]]),
        ("?end=2020-01-01T00:00:00Z", []),
    ]:
        page = await get_ok(served.client, f"/v1/alerts{query}")
        assert [item["sensor"] for item in page["items"]] == expected, query


@pytest.mark.parametrize(("query", "parameter"), [
    ("state=burning", "state"), ("severity=urgent", "severity"), ("kind=bus", "kind"),
    ("district=Pu+dong", "district"), ("sensor=a/b", "sensor"), ("limit=0", "limit"),
    ("limit=1001", "limit"), ("offset=-1", "offset"), ("start=yesterday", "start"),
    ("start=2025-01-01T00:00:00Z&end=2025-03-01T00:00:00Z", "start"),
    ("start=2025-01-02T00:00:00Z&end=2025-01-01T00:00:00Z", "end"),
])
async def test_list_names_the_bad_parameter(served: Served, query: str, parameter: str) -> None:
    response = await served.client.get(f"/v1/alerts?{query}")

    assert error_locs(response) == [["query", parameter]]


async def test_detail_has_current_state_and_history(
        served: Served, two_firing: dict[str, str], mosquitto: stack.Server,
        topic_root: str) -> None:
    alert_id = two_firing[LOT_B[0]]
    publish_lots(mosquitto.port, topic_root, lot_reading(LOT_B, 0.5, seq=2))
    await wait_for_alerts(served.client, "?state=resolved", 1)

    body = await get_ok(served.client, f"/v1/alerts/{alert_id}")
    assert (body["alert_id"], body["state"], body["sensor"]) == (alert_id, "resolved", LOT_B[0])
    assert [change["state"] for change in body["history"]] == ["resolved", "firing"]
    assert body["history"][0]["ts"] == body["ts"]
    assert body["history"][1]["value"] == 0.99

    last = await get_ok(served.client, f"/v1/alerts/{alert_id}?limit=1")
    assert [change["state"] for change in last["history"]] == ["resolved"]
    empty = await get_ok(served.client, f"/v1/alerts/{alert_id}?end=2020-01-01T00:00:00Z")
    assert (empty["state"], empty["history"]) == ("resolved", [])


async def test_detail_of_an_unknown_alert_is_404(served: Served) -> None:
    response = await served.client.get("/v1/alerts/0123456789abcdef")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "Unknown alert '0123456789abcdef': InfluxDB holds no state change of it."}


async def test_detail_refuses_a_bad_id_and_limit(served: Served) -> None:
    assert error_locs(await served.client.get("/v1/alerts/BAD_ID")) == [["path", "alert_id"]]
    locs = error_locs(await served.client.get("/v1/alerts/0123456789abcdef?limit=0"))
    assert locs == [["query", "limit"]]


# ---------------------------------------------------------------------------- ack

async def test_ack_needs_the_right_key(served: Served, two_firing: dict[str, str]) -> None:
    alert_id = two_firing[LOT_A[0]]

    missing = await ack(served, alert_id, {"by": "ops"}, key=None)
    wrong = await ack(served, alert_id, {"by": "ops"}, key=KEY + "x")

    assert missing.status_code == 401
    assert missing.json() == {
        "detail": "Acknowledging an alert needs an API key in the X-API-Key header."}
    assert missing.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'
    assert wrong.status_code == 403
    assert wrong.json() == {"detail": "The API key in the X-API-Key header is not valid."}
    current = await get_ok(served.client, f"/v1/alerts/{alert_id}")
    assert current["state"] == "firing"


async def test_ack_through_the_api_reaches_subscribers(
        served: Served, two_firing: dict[str, str], mosquitto: stack.Server,
        topic_root: str) -> None:
    alert_id = two_firing[LOT_A[0]]
    recorder = Recorder(mosquitto.port, f"{topic_root}/alerts/#")
    try:
        response = await ack(served, alert_id, {"by": "duty-officer", "note": "signs to lot B"})

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["alert_id"], body["state"], body["acked_by"], body["note"]) == (
            alert_id, "acknowledged", "duty-officer", "signs to lot B")
        topic = f"{topic_root}/alerts/pudong/parking/{LOT_A[0]}/{RULE}"

        def acknowledged() -> list[Any]:
            return [alert_decoder.decode(payload) for seen, payload in recorder.messages
                    if seen == topic and payload and b"acknowledged" in payload]

        await wait_until(lambda: bool(acknowledged()), 10)
    finally:
        recorder.close()
    heard = acknowledged()[0]
    assert (heard.alert_id, heard.state, heard.acked_by, heard.note, heard.ts) == (
        alert_id, "acknowledged", "duty-officer", "signs to lot B", body["ts"])
    await wait_for_alerts(served.client, "?state=acknowledged", 1)
    again = await ack(served, alert_id, {"by": "someone-else"})
    assert again.status_code == 409
    assert again.json()["detail"].startswith(
        f"Alert '{alert_id}' is already acknowledged by 'duty-officer' at ")


async def test_ack_of_an_unknown_or_resolved_alert_is_404(
        served: Served, two_firing: dict[str, str], mosquitto: stack.Server,
        topic_root: str) -> None:
    publish_lots(mosquitto.port, topic_root, lot_reading(LOT_B, 0.5, seq=2))
    await wait_for_alerts(served.client, "?state=resolved", 1)

    unknown = await ack(served, "0123456789abcdef", {"by": "ops"})
    resolved = await ack(served, two_firing[LOT_B[0]], {"by": "ops"})

    assert unknown.status_code == 404
    assert unknown.json()["detail"].startswith("Unknown alert '0123456789abcdef'")
    assert resolved.status_code == 404
    assert resolved.json()["detail"].startswith(
        f"Alert '{two_firing[LOT_B[0]]}' is not active: it resolved at ")


@pytest.mark.parametrize(("body", "loc"), [
    ({"note": "no one"}, ["body", "by"]), ({"by": ""}, ["body", "by"]),
    ({"by": "   "}, ["body", "by"]), ({"by": "x" * 101}, ["body", "by"]),
    ({"by": "ops", "note": "x" * 1001}, ["body", "note"]),
    ({"by": "ops", "extra": 1}, ["body", "extra"]),
])
async def test_ack_names_the_bad_field(served: Served, body: dict[str, Any],
                                       loc: list[str]) -> None:
    response = await ack(served, "0123456789abcdef", body)

    assert error_locs(response) == [loc]


async def test_ack_of_a_body_that_is_not_utf8_is_400(served: Served) -> None:
    response = await served.client.post(
        "/v1/alerts/0123456789abcdef/ack", content=b'{"by": "\xff\xfe"}',
        headers={"X-API-Key": KEY, "Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json() == {"detail": "There was an error parsing the body"}
    document = (await served.client.get("/openapi.json")).json()
    assert "400" in document["paths"]["/v1/alerts/{alert_id}/ack"]["post"]["responses"]


async def test_ack_refuses_a_large_body_with_413(served: Served) -> None:
    response = await ack(served, "0123456789abcdef", {"by": "ops", "note": "x" * 20_000})

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than the allowed 16384 bytes."}


async def test_ack_without_a_key_on_the_server_is_503(keyed: ApiSettings) -> None:
    async with serve(keyed.model_copy(update={"api_key": None})) as unkeyed:
        response = await ack(unkeyed, "0123456789abcdef", {"by": "ops"})

        assert response.status_code == 503
        assert response.json() == {
            "detail": "This server has no API key configured (URBANPULSE_API_KEY), "
                      "so it accepts no acknowledgements."}


async def test_ack_is_504_when_no_ingester_confirms(keyed: ApiSettings,
                                                    influxd: stack.Server) -> None:
    tags = {"alert_id": "00000000000000aa", "rule": RULE, "sensor": LOT_A[0],
            "kind": "parking", "district": "pudong", "severity": "info", "state": "firing"}
    now = int(time.time() * 1000)
    write_lines(influxd.url, keyed.influx_db, [
        encode_point("alerts", tags, {"message": "occupancy 0.97 above 0.95", "since": now},
                     now)])
    async with serve(keyed.model_copy(update={"api_ack_timeout_s": 0.5})) as alone:
        started = time.monotonic()
        response = await ack(alone, "00000000000000aa", {"by": "ops"})

        assert response.status_code == 504
        assert response.json()["detail"].startswith(
            "The ingester did not confirm the acknowledgement of alert '00000000000000aa' "
            "within 0.5 s")
        assert time.monotonic() - started < 5


def test_a_well_known_api_key_is_refused_and_not_echoed() -> None:
    with pytest.raises(ConfigError, match="URBANPULSE_API_KEY") as raised:
        load(ApiSettings, api_key="change-me")
    assert "change-me" not in str(raised.value)


# ------------------------------------------------------------------------- stream

async def read_events(lines: AsyncIterator[str], count: int) -> list[tuple[str, Any]]:
    """Read `count` server-sent events (skipping keep-alive comments) as (event, data)."""
    events: list[tuple[str, Any]] = []
    event, data = "", ""
    async with asyncio.timeout(15):
        async for line in lines:
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data += line.removeprefix("data: ")
            elif not line and (event or data):
                events.append((event, json.loads(data)))
                event, data = "", ""
                if len(events) == count:
                    break
    return events


async def test_stream_sends_active_alerts_first_then_changes(
        served: Served, two_firing: dict[str, str], mosquitto: stack.Server,
        topic_root: str) -> None:
    async with served.client.stream("GET", "/v1/alerts/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        active = await read_events(lines, 2)
        publish_lots(mosquitto.port, topic_root, lot_reading(LOT_B, 0.5, seq=2))
        changes = await read_events(lines, 1)
        publish_lots(mosquitto.port, topic_root, lot_reading(LOT_A, 0.98, seq=2),
                     lot_reading(LOT_B, 0.97, seq=3))
        refired = await read_events(lines, 1)

    assert {event for event, _ in active + changes + refired} == {"alert"}
    assert sorted((data["sensor"], data["state"]) for _, data in active) == [
        (LOT_A[0], "firing"), (LOT_B[0], "firing")]
    assert all(data["v"] == 1 and data["rule"] == RULE for _, data in active)
    resolved = changes[0][1]
    assert (resolved["alert_id"], resolved["state"]) == (two_firing[LOT_B[0]], "resolved")
    # the retained clear after the resolve is not forwarded; the next event is a new episode
    assert (refired[0][1]["alert_id"], refired[0][1]["state"]) == (
        two_firing[LOT_B[0]], "firing")
    await wait_until(lambda: served.open_requests() == 0, 10)


async def test_stream_filters_by_district_and_ends_on_disconnect(
        served: Served, two_firing: dict[str, str]) -> None:
    async with served.client.stream("GET", "/v1/alerts/stream?district=xuhui") as response:
        events = await read_events(response.aiter_lines(), 1)
        assert served.open_requests() == 1

    assert [(data["sensor"], data["state"]) for _, data in events] == [(LOT_B[0], "firing")]
    await wait_until(lambda: served.open_requests() == 0, 10)


async def test_stream_is_503_when_the_broker_is_down(keyed: ApiSettings) -> None:
    port = stack.free_port()
    async with serve(keyed.model_copy(update={"mqtt_port": port})) as alone:
        response = await alone.client.get("/v1/alerts/stream")

        assert response.status_code == 503
        assert response.json()["detail"].startswith(
            f"The MQTT broker at 127.0.0.1:{port} is unreachable: ")


def test_a_point_still_being_written_is_left_out() -> None:
    """InfluxDB 1.x can answer with some fields of a point it is still applying.

    Seen against a real influxd: a query racing a stream of writes returned rows
    with `message` or `since` null. Such a row is no alert yet, not a 500.
    """
    columns = ["time", "message", "since", "state", "value"]
    rows: dict[str, list[Any]] = {
        "a1": [1_000, "lot full", 900, "firing", 0.97],
        "a2": [1_001, None, 901, "firing", None],  # message not there yet
        "a3": [1_002, "lot full", None, "firing", 0.99],  # since not there yet
    }
    series = [Series(name="alerts", columns=columns, values=[row], tags={
        "alert_id": alert_id, "rule": "r", "sensor": f"s-{alert_id}", "kind": "parking",
        "district": "pudong", "severity": "high"}) for alert_id, row in rows.items()]
    assert [alert.alert_id for alert in _alerts(series)] == ["a1"]


# ------------------------------------------------ forged state and racing acks (docs/alerts.md)

FORGED_LOT = ("parking-pudong-0666", "pudong")


def forged_alert(root: str, lot: tuple[str, str], key: bytes | None = None,
                 **changes: Any) -> tuple[str, bytes]:
    """Return the topic and payload of a firing alert no ingester raised (signed with `key`)."""
    sensor, district = lot
    now = int(time.time() * 1000)
    fields: dict[str, Any] = {"state": "firing", **changes}
    alert = AlertMessage(v=1, alert_id=fingerprint(RULE, sensor), rule=RULE, sensor=sensor,
                         kind="parking", district=district, severity="critical", ts=now,
                         since=now, message="occupancy 1.0 above 0.95", value=1.0, **fields)
    if key is not None:
        alert = sign_alert(alert, key)
    payload = msgspec.structs.asdict(alert)
    if payload["sig"] is None:
        del payload["sig"]  # the message of contract v1 before signatures: it decoded then
    return alert_topic(district, "parking", sensor, RULE, root=root), encoder.encode(payload)


def retain(port: int, topic: str, payload: bytes) -> None:
    subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-r", "-t", topic, "-s"],
                   input=payload, check=True, timeout=10)


async def test_a_forged_retained_alert_reaches_neither_the_stream_nor_the_list(
        keyed: ApiSettings, ingest_settings: IngestSettings, mosquitto: stack.Server,
        topic_root: str) -> None:
    forgeries = [forged_alert(topic_root, FORGED_LOT),
                 forged_alert(topic_root, ("parking-pudong-0667", "pudong"), sig="f" * 64),
                 forged_alert(topic_root, ("parking-pudong-0668", "pudong"),
                              key=b"a-key-that-is-not-ours")]
    for topic, payload in forgeries:
        retain(mosquitto.port, topic, payload)
    ingester = Ingester(ingest_settings)  # started after the forgeries: a restart
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))
    try:
        await asyncio.wait_for(ingester.subscribed.wait(), 10)
        assert ingester.engine.active == []
        async with serve(keyed) as api:
            # a lower reading would resolve an adopted forgery, writing it to `alerts`
            publish_lots(mosquitto.port, topic_root, lot_reading(FORGED_LOT, 0.5, seq=1),
                         lot_reading(LOT_A, 0.97, seq=1))
            listed = await wait_for_alerts(api.client, "", 1)
            async with api.client.stream("GET", "/v1/alerts/stream") as response:
                lines = response.aiter_lines()
                first = await read_events(lines, 1)  # the retained states come first
                publish_lots(mosquitto.port, topic_root, lot_reading(LOT_A, 0.5, seq=2))
                second = await read_events(lines, 1)
            await asyncio.sleep(0.5)  # what InfluxDB has by now, it would show
            again = (await get_ok(api.client, "/v1/alerts"))["items"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    assert [(item["sensor"], item["state"]) for item in listed] == [(LOT_A[0], "firing")]
    assert [(data["sensor"], data["state"]) for _, data in first + second] == [
        (LOT_A[0], "firing"), (LOT_A[0], "resolved")]
    assert [(item["sensor"], item["state"]) for item in again] == [(LOT_A[0], "resolved")]


async def test_stream_and_ack_are_503_without_the_alert_key(keyed: ApiSettings) -> None:
    async with serve(keyed.model_copy(update={"alert_key": None})) as unkeyed:
        stream = await unkeyed.client.get("/v1/alerts/stream")
        acked = await ack(unkeyed, "0123456789abcdef", {"by": "ops"})

    assert (stream.status_code, acked.status_code) == (503, 503)
    assert stream.json() == {"detail": "This server has no alert key configured "
                                       "(URBANPULSE_ALERT_KEY, shared with the ingester), so "
                                       "it cannot tell the ingester's alert states from "
                                       "forged ones."}
    assert acked.json()["detail"].endswith("so it cannot sign ack commands and accepts none.")


@pytest.mark.parametrize(("body", "field"), [
    ({"by": "ops\x1b[2J"}, "by"),
    ({"by": "\u202eevil"}, "by"),
    ({"by": "ops\u0085"}, "by"),
    ({"by": "ops", "note": "done\r\nINFO forged log line"}, "note"),
    ({"by": "ops", "note": "\x07"}, "note"),
])
async def test_ack_refuses_control_characters_with_422(
        served: Served, two_firing: dict[str, str], body: dict[str, str], field: str) -> None:
    response = await ack(served, two_firing[LOT_A[0]], body)

    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]


async def test_a_note_may_hold_line_feeds_and_tabs(
        served: Served, two_firing: dict[str, str]) -> None:
    response = await ack(served, two_firing[LOT_A[0]],
                         {"by": "Zoë Li", "note": "crew sent\n\tto lot B"})

    assert response.status_code == 200, response.text
    assert (response.json()["acked_by"], response.json()["note"]) == (
        "Zoë Li", "crew sent\n\tto lot B")


async def test_of_two_acks_at_once_one_wins_and_the_other_is_409_at_once(
        served: Served, two_firing: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    alert_id = two_firing[LOT_A[0]]
    answered: dict[str, float] = {}
    refused = asyncio.Event()

    async def held(*args: Any, **kwargs: Any) -> Alert:
        # The winner sends its ack command only once the other request has its answer
        # (or after 5 s): the two overlap however fast the ingester confirms, and a loser
        # made to wait for the winner fails the assertions below instead of hanging.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(refused.wait(), 5)
        return await acknowledge(*args, **kwargs)

    monkeypatch.setattr(alert_routes, "acknowledge", held)

    async def one(by: str) -> httpx.Response:
        response: httpx.Response = await ack(served, alert_id, {"by": by})
        answered[by] = time.monotonic()
        if response.status_code == 409:
            refused.set()
        return response

    first, second = await asyncio.gather(one("alice"), one("bob"))

    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert loser.json()["detail"] == (
        f"Alert '{alert_id}' is being acknowledged by another request right now.")
    lost_by = "bob" if winner.json()["acked_by"] == "alice" else "alice"
    assert answered[lost_by] < answered[winner.json()["acked_by"]]  # at once, not after it
    # Right after the 200, InfluxDB may not show it yet: the api remembers its own ack.
    late = await ack(served, alert_id, {"by": "carol"})
    assert late.status_code == 409
    assert late.json()["detail"].startswith(
        f"Alert '{alert_id}' is already acknowledged by {winner.json()['acked_by']!r} at ")


async def test_an_alert_not_yet_in_influxdb_is_found_and_acked_from_memory(
        served: Served, two_firing: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    alert_id = two_firing[LOT_A[0]]

    async def lagging(*args: Any, **kwargs: Any) -> None:  # the ingester's batch not written yet
        return None

    monkeypatch.setattr(AlertStore, "current", lagging)

    detail = await served.client.get(f"/v1/alerts/{alert_id}")
    acked = await ack(served, alert_id, {"by": "alice"})

    assert detail.status_code == 200, detail.text
    assert detail.json()["state"] == "firing"
    assert acked.status_code == 200, acked.text
    assert (acked.json()["state"], acked.json()["acked_by"]) == ("acknowledged", "alice")


async def test_an_ack_that_loses_to_another_workers_is_409(
        keyed: ApiSettings, served: Served, two_firing: dict[str, str]) -> None:
    alert_id = two_firing[LOT_A[0]]
    async with serve(keyed) as other_worker:  # a second process: its own ledger
        first = await ack(served, alert_id, {"by": "alice"})
        # The other worker has no record of alice's ack: it learns of it from InfluxDB or,
        # when InfluxDB lags, from the acknowledged state on the alert's topic.
        second = await ack(other_worker, alert_id, {"by": "bob"})

    assert first.status_code == 200, first.text
    assert second.status_code == 409, second.text
    assert second.json()["detail"].startswith(
        f"Alert '{alert_id}' is already acknowledged by 'alice' at ")


async def test_a_forged_acknowledged_state_does_not_confirm_an_ack(
        keyed: ApiSettings, influxd: stack.Server, mosquitto: stack.Server,
        topic_root: str) -> None:
    lot = ("parking-pudong-0777", "pudong")
    alert_id = fingerprint(RULE, lot[0])
    now = int(time.time() * 1000)
    write_lines(influxd.url, keyed.influx_db, [encode_point(
        "alerts", {"alert_id": alert_id, "rule": RULE, "sensor": lot[0], "kind": "parking",
                   "district": "pudong", "severity": "info", "state": "firing"},
        {"message": "occupancy 0.97 above 0.95", "since": now}, now)])
    retain(mosquitto.port, *forged_alert(topic_root, lot, state="acknowledged",
                                         acked_by="ops", note=""))
    async with serve(keyed.model_copy(update={"api_ack_timeout_s": 0.5})) as alone:
        response = await ack(alone, alert_id, {"by": "ops"})  # no ingester is running

    assert response.status_code == 504, response.text
