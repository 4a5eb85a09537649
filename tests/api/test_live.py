"""The latest state in memory: seeded from InfluxDB, then following MQTT, answering alone.

The api runs with its lifespan (so it keeps the state) against the session's
mosquitto and influxd. Once loaded, its InfluxDB client is pointed at a closed
port: the latest-state routes still answer, a route of history does not.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from fastapi import FastAPI

from api.district_summary import renew_summaries, sections
from api.influx import HttpxTransport, InfluxQuery
from api.live import IGNORED_LOG_BURST, HeldQueries, LiveState, sensor_of
from api.main import create_app
from api.models import Alert, AlertPage
from api.summary_history import STALE_MS, KeptReads, SummaryHistory
from ingest.incidents.record import incident_point
from ingest.points import alert_point, birth_point
from ops import stack
from tests.api.conftest import ALERT_KEY, birth_line, closed_url, reading_line, write_lines
from tests.conftest import publish_all, wait_until
from urbanpulse.births import MAX_FUTURE_S
from urbanpulse.kinds.summaries import current_readings
from urbanpulse.messages import Alert as AlertMessage
from urbanpulse.messages import DistrictState, Incident, SensorBirth, SensorState, encoder
from urbanpulse.settings import ApiSettings, load
from urbanpulse.signing import sign_alert, sign_state
from urbanpulse.topics import Channel, alert_topic, sensor_topic, state_topic

KEY = ALERT_KEY.encode()
OTHER_KEY = b"another-key-0123456789abcdef"
DISTRICT = "alpha"
LOT = "parking-alpha-0001"
ALERT_ID = "0123456789abcdef"


def now_ms() -> int:
    return int(time.time() * 1000)


def lot_birth(sensor: str = LOT, *, ts: int, site: str = "lot A",
              **attributes: Any) -> SensorBirth:
    return SensorBirth(v=1, sensor=sensor, kind="parking", district=DISTRICT, site=site,
                       lat=31.23, lon=121.50, zone="commercial", interval_s=60, ts=ts,
                       attributes={"device": "lot", "capacity": 200, **attributes})


def lot_state(free: int, *, ts: int, seq: int, key: bytes | None = KEY,
              sensor: str = LOT) -> bytes:
    """Return a district state holding one lot count, signed with `key` (None: unsigned)."""
    state = DistrictState(v=1, district=DISTRICT, ts=ts, sensors={"parking": {sensor: SensorState(
        ts=ts, seq=seq, values={"total_spot_number": 200.0, "available_spot_number": free})}})
    return encoder.encode(state if key is None else sign_state(state, key))


def firing(ts: int, state: str = "firing") -> AlertMessage:
    return AlertMessage(v=1, alert_id=ALERT_ID, rule="lot-nearly-full", sensor=LOT,
                        kind="parking", district=DISTRICT, state=state,  # type: ignore[arg-type]
                        severity="medium", ts=ts, since=ts, message="Lot A is nearly full.")


@dataclass
class Running:
    """The app with its lifespan running, its latest state, and a client."""

    app: FastAPI
    live: LiveState
    client: httpx.AsyncClient

    def lose_influxdb(self) -> None:
        """Point the app's InfluxDB client at a port nothing listens on."""
        self.app.state.influx = InfluxQuery(HttpxTransport(httpx.AsyncClient(
            base_url=closed_url(), timeout=2)), "nowhere")

    async def get(self, url: str) -> Any:
        response = await self.client.get(url)
        assert response.status_code == 200, (url, response.text)
        return response.json()


@asynccontextmanager
async def run(settings: ApiSettings, *, loaded: bool = True) -> AsyncIterator[Running]:
    """Run the app's lifespan, wait for the state to load (when `loaded`), yield a client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        live: LiveState = app.state.live
        if loaded:
            await wait_until(lambda: live.loaded)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield Running(app, live, client)


@pytest.fixture
async def running(settings: ApiSettings) -> AsyncIterator[Running]:
    """The api, seeded from InfluxDB with a lot, its count of a minute ago and a firing alert."""
    t = now_ms()
    write_lines(settings.influx_url, settings.influx_db, [
        birth_point(lot_birth(ts=t - 3_600_000)),
        f"parking,district={DISTRICT},sensor={LOT} total_spot_number=200,"
        f"available_spot_number=150,seq=7i {t - 60_000}",
        alert_point(firing(t - 120_000)),
    ])
    async with run(settings) as one:
        yield one


async def test_the_latest_state_routes_answer_from_memory_without_influxdb(
        running: Running) -> None:
    running.lose_influxdb()
    history = await running.client.get(f"/v1/sensors/{LOT}/readings")
    assert history.status_code == 503  # InfluxDB is really gone

    detail = await running.get(f"/v1/sensors/{LOT}")
    assert (detail["site"], detail["latest"]["seq"]) == ("lot A", 7)
    assert detail["latest"]["values"] == {"total_spot_number": 200.0,
                                          "available_spot_number": 150.0}
    page = await running.get(f"/v1/sensors?district={DISTRICT}")
    assert [item["sensor"] for item in page["items"]] == [LOT]
    assert page["total"] == 1
    assert (await running.get("/v1/districts"))["items"] == [
        {"district": DISTRICT, "sensors": {"parking": 1}}]
    summary = await running.get(f"/v1/districts/{DISTRICT}/summary")
    assert summary["parking"]["free_spaces"] == 150
    assert summary["alerts"]["total"] == summary["alerts"]["medium"] == 1
    guidance = await running.get("/v1/parking/guidance?near=31.23,121.5")
    assert [(lot["sensor"], lot["free_spaces"], lot["status"]) for lot in guidance["items"]] \
        == [(LOT, 150, "green")]
    alerts = await running.get("/v1/alerts?state=firing")
    assert [alert["alert_id"] for alert in alerts["items"]] == [ALERT_ID]
    assert (await running.client.get("/v1/districts/nowhere/summary")).status_code == 404


async def test_a_signed_state_updates_the_latest_reading_and_forged_ones_do_not(
        running: Running, settings: ApiSettings, mosquitto: stack.Server) -> None:
    topic = state_topic(DISTRICT, root=settings.topic_root)
    t = now_ms()
    publish_all(mosquitto.port, [(topic, lot_state(4, ts=t, seq=8))], retain=True)
    await wait_until(lambda: (running.live.newest(LOT) or {}).get("seq") == 8)
    running.lose_influxdb()
    guidance = await running.get(f"/v1/parking/guidance?district={DISTRICT}")
    assert [(lot["free_spaces"], lot["status"], lot["ts"]) for lot in guidance["items"]] \
        == [(4, "red", t)]

    publish_all(mosquitto.port, [
        (topic, lot_state(199, ts=t + 1000, seq=9, key=None)),
        (topic, lot_state(199, ts=t + 1000, seq=9, key=OTHER_KEY)),
        (topic, b'{"v": 1, "district": "alpha"'),
        (state_topic("beta", root=settings.topic_root), lot_state(199, ts=t + 1000, seq=9)),
    ])
    await wait_until(lambda: running.live.ignored["state"] == 4)
    detail = await running.get(f"/v1/sensors/{LOT}")
    assert (detail["latest"]["seq"], detail["latest"]["values"]["available_spot_number"]) \
        == (8, 4.0)


async def test_births_are_taken_as_the_ingester_takes_them(
        running: Running, settings: ApiSettings, mosquitto: stack.Server) -> None:
    root, t = settings.topic_root, now_ms()

    def topic(sensor: str, kind: str = "parking") -> str:
        return sensor_topic(Channel.SENSORS, DISTRICT, kind, sensor, root=root)

    good = "parking-alpha-0002"
    forged = [
        (topic("parking-alpha-0003"), encoder.encode(lot_birth("parking-alpha-0003", ts=t,
                                                               district="x"))),
        (topic(LOT), encoder.encode(lot_birth(ts=t + 86_400_000, site="forged"))),
        (topic("parking-alpha-0004"), encoder.encode(lot_birth("parking-alpha-0005", ts=t))),
        (topic("volcano-alpha-0001", "volcano"), encoder.encode(msgspec.structs.replace(
            lot_birth("volcano-alpha-0001", ts=t), kind="volcano"))),
        (topic("parking-alpha-0006"), b"not json"),
    ]
    publish_all(mosquitto.port, [*forged, (topic(good), encoder.encode(lot_birth(good, ts=t)))],
                retain=True)
    await wait_until(lambda: good in running.live.births)
    await wait_until(lambda: running.live.ignored["birth"] == len(forged))
    running.lose_influxdb()
    page = await running.get("/v1/sensors")
    assert [item["sensor"] for item in page["items"]] == [LOT, good]
    assert (await running.get(f"/v1/sensors/{LOT}"))["site"] == "lot A"


async def test_alerts_follow_signed_states_only(
        running: Running, settings: ApiSettings, mosquitto: stack.Server) -> None:
    topic = alert_topic(DISTRICT, "parking", LOT, "lot-nearly-full", root=settings.topic_root)
    t = now_ms()
    running.lose_influxdb()
    publish_all(mosquitto.port, [
        (topic, encoder.encode(firing(t, "resolved"))),  # unsigned
        (topic, encoder.encode(sign_alert(firing(t, "resolved"), OTHER_KEY))),
        (alert_topic(DISTRICT, "parking", LOT, "other-rule", root=settings.topic_root),
         encoder.encode(sign_alert(firing(t, "resolved"), KEY))),
        (topic, b""),  # anyone may clear a retained topic
    ])
    await wait_until(lambda: running.live.ignored["alert"] == 3)
    assert (await running.get("/v1/alerts?state=firing"))["total"] == 1

    publish_all(mosquitto.port, [(topic, encoder.encode(sign_alert(firing(t, "resolved"), KEY)))])
    await wait_until(lambda: not running.live.alerts)
    publish_all(mosquitto.port, [(topic, encoder.encode(sign_alert(firing(t - 1000), KEY)))])
    publish_all(mosquitto.port, [(topic, encoder.encode(sign_alert(
        firing(t + 1000, "pending"), KEY)))])
    await wait_until(lambda: ALERT_ID in running.live.alerts)
    pending = await running.get("/v1/alerts?state=pending")
    assert (await running.get("/v1/alerts?state=firing"))["total"] == 0  # the replay stayed out
    assert [alert["ts"] for alert in pending["items"]] == [t + 1000]


async def test_the_state_is_not_loaded_while_influxdb_cannot_seed_it(
        mosquitto: stack.Server, influxd: stack.Server, topic_root: str) -> None:
    settings = load(ApiSettings, mqtt_host="127.0.0.1", mqtt_port=mosquitto.port,
                    topic_root=topic_root, influx_url=closed_url(), influx_db="none",
                    alert_key=ALERT_KEY)
    async with run(settings, loaded=False) as one:
        response = await one.client.get("/health")
        assert response.status_code == 503
        state = response.json()["state"]
        assert state["ok"] is False
        assert "loading" in state["detail"]
        assert (await one.client.get("/v1/sensors")).status_code == 503  # read InfluxDB meanwhile


def test_the_same_birth_again_changes_nothing() -> None:
    """Every reconnect re-delivers every retained birth: none may drop lists or answers."""
    live, t = LiveState(root="city", alert_key=KEY), now_ms()
    topic = sensor_topic(Channel.SENSORS, DISTRICT, lot_birth(ts=t).kind, LOT, root="city")
    live.on_birth(topic, encoder.encode(lot_birth(ts=t)), now_ms=t)
    listed = live.sensors(district=DISTRICT)
    version = live.version(DISTRICT)
    live.on_birth(topic, encoder.encode(lot_birth(ts=t)), now_ms=t + 1000)
    assert live.version(DISTRICT) == version
    assert live.sensors(district=DISTRICT) is listed  # the lists were not made again
    live.on_birth(topic, encoder.encode(lot_birth(ts=t, site="lot B")), now_ms=t + 1000)
    assert live.version(DISTRICT) == version + 1
    assert live.births[LOT].site == "lot B"


def test_refused_messages_are_logged_a_few_per_reason_then_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    live, t = LiveState(root="city", alert_key=KEY), now_ms()
    topic = sensor_topic(Channel.SENSORS, DISTRICT, lot_birth(ts=t).kind, LOT, root="city")
    with caplog.at_level(logging.WARNING, "api.live"):
        for _ in range(1000):
            live.on_birth(topic, b"not json" * 1000, now_ms=t)
            live.on_state(state_topic(DISTRICT, root="city"), lot_state(1, ts=t, seq=1, key=None))
        live.ignored_log.flush()
    assert (live.ignored["birth"], live.ignored["state"]) == (1000, 1000)
    lines = [record.getMessage() for record in caplog.records]
    assert sum(line.startswith("ignored ") for line in lines) == 2 * IGNORED_LOG_BURST
    assert len(lines) == 2 * (IGNORED_LOG_BURST + 1 + 1)  # bursts, their notices, summaries
    assert any(line.startswith(f"{1000 - IGNORED_LOG_BURST} more birth refusals")
               for line in lines)


async def test_a_reading_stamped_a_little_ahead_is_current_in_memory() -> None:
    """The ingester takes readings up to 300 s ahead (clock skew); memory holds only the newest."""
    live, t = LiveState(root="city", alert_key=KEY), now_ms()
    lot = sensor_of(lot_birth(ts=t - 3_600_000))
    live.add_birth(lot)
    live.add_reading(LOT, SensorState(ts=t - 60_000, seq=1, values={"available_spot_number": 9}))
    ahead = t + MAX_FUTURE_S * 1000
    live.add_reading(LOT, SensorState(ts=ahead, seq=2, values={"available_spot_number": 4}))
    queries = HeldQueries(InfluxQuery(HttpxTransport(httpx.AsyncClient(
        base_url=closed_url(), timeout=2)), "nowhere"), live)
    current = await current_readings(queries, lot.kind, [lot], ("available_spot_number",),
                                     at_ms=t)
    assert [(one.sensor.sensor, one.ts, one.number("available_spot_number"))
            for one in current] == [(LOT, ahead, 4.0)]


def test_the_alert_index_answers_as_a_scan_of_every_held_alert_would() -> None:
    """Random state changes (out of order too); every query agrees with filter-and-sort."""
    rng = random.Random(7)
    live = LiveState(root="city", alert_key=KEY)
    districts, states = ("alpha", "beta", "gamma"), ("pending", "firing", "acknowledged",
                                                     "resolved")
    for step in range(3000):
        alert_id = f"{rng.randrange(300):016x}"
        live.add_alert(Alert(alert_id=alert_id, rule="lot-nearly-full", sensor=f"s-{alert_id}",
                             kind="parking", district=districts[int(alert_id, 16) % 3],
                             state=rng.choice(states), severity="medium",
                             ts=step * 10 + rng.randrange(-50, 50), since=0,
                             message="full"))
        if step % 100:
            continue
        for state in states[:3]:
            for district in (None, *districts):
                start = rng.randrange(step * 10 + 1)
                end = rng.randrange(start, step * 10 + 60)
                scan = sorted((alert for alert in live.alerts.values()
                               if alert.state == state and district in (None, alert.district)
                               and start <= alert.ts < end),
                              key=lambda alert: (-alert.ts, alert.alert_id))
                assert list(live.held_alerts(state=state, district=district, start_ms=start,
                                             end_ms=end)) == scan
    assert sum(len(live.held_alerts(state=state, district=None, start_ms=0, end_ms=10**9))
               for state in states[:3]) == len(live.alerts) > 50
    for district in (None, *districts):
        assert sorted(alert.alert_id for alert in live.active_alerts(district=district)) == \
            sorted(alert.alert_id for alert in live.alerts.values()
                   if district in (None, alert.district))


def test_a_page_of_held_alerts_is_the_bytes_alert_page_encodes() -> None:
    """Kept per alert state: a newer state is encoded again, and the page reads as the model."""
    live = LiveState(root="city", alert_key=KEY)
    alerts = [Alert(alert_id=f"{n:016x}", rule="lot-nearly-full", sensor=f"s-{n}",
                    kind="parking", district=DISTRICT, state="firing", severity="medium",
                    ts=1000 + n, since=900, message="Lot \"A\" is 96 % full", value=0.96)
              for n in range(3)]
    for alert in alerts:
        live.add_alert(alert)
    page = AlertPage(items=alerts[::-1], total=3, limit=10, offset=0)
    assert live.answers.alert_page(alerts[::-1], total=3, limit=10, offset=0) == \
        page.__pydantic_serializer__.to_json(page)
    acked = alerts[0].model_copy(update={"state": "acknowledged", "ts": 2000, "acked_by": "li"})
    live.add_alert(acked)
    one = AlertPage(items=[acked], total=1, limit=1, offset=0)
    assert live.answers.alert_page([acked], total=1, limit=1, offset=0) == \
        one.__pydantic_serializer__.to_json(one)


async def test_the_lists_of_what_changed_lately_answer_from_memory(
        settings: ApiSettings, mosquitto: stack.Server) -> None:
    """Alerts resolved lately and incidents are seeded and followed; a range that starts
    before what memory holds is still asked of InfluxDB."""
    t = now_ms()
    gone, lately = "00000000000000aa", "00000000000000bb"
    opened = Incident(v=1, incident_id="00000000000000cc", district=DISTRICT, street="lot A",
                      category="traffic", department="Traffic police", cause="lot full",
                      severity="medium", stage="accepted", opened=t - 600_000,
                      ts=t - 600_000, stage_since=t - 600_000, due=t + 600_000,
                      overrun=False, change="opened")
    write_lines(settings.influx_url, settings.influx_db, [
        alert_point(msgspec.structs.replace(firing(t - 30 * 3_600_000, "resolved"),
                                            alert_id=gone)),
        alert_point(msgspec.structs.replace(firing(t - 3_600_000, "resolved"), alert_id=lately)),
        incident_point(opened),
    ])
    viewer = "viewer-key-0123456789"
    async with run(load(ApiSettings, **{**settings.model_dump(), "api_viewer_key": viewer})
                   ) as running:
        running.lose_influxdb()
        listed = await running.get("/v1/alerts")
        assert [(alert["alert_id"], alert["state"]) for alert in listed["items"]] == [
            (lately, "resolved")]
        publish_all(mosquitto.port, [(
            alert_topic(DISTRICT, "parking", LOT, "lot-nearly-full", root=settings.topic_root),
            encoder.encode(sign_alert(firing(t, "resolved"), KEY)))])
        await wait_until(lambda: running.live.alert(ALERT_ID) is not None)
        resolved = await running.get("/v1/alerts?state=resolved")
        assert [alert["alert_id"] for alert in resolved["items"]] == [ALERT_ID, lately]
        assert resolved["total"] == 2
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t / 1000 - 40 * 3600))
        older = await running.client.get("/v1/alerts", params={"start": since})
        assert older.status_code == 503  # not held: asked of InfluxDB, which is gone
        incidents = await running.client.get("/v1/incidents", headers={"X-API-Key": viewer})
        assert incidents.status_code == 200, incidents.text
        assert [(one["incident_id"], one["stage"]) for one in incidents.json()["items"]] == [
            (opened.incident_id, "accepted")]


MONITOR = "noise-alpha-0001"


def monitor_lines(times: list[int]) -> list[str]:
    """Return a zoned noise monitor's birth and a reading over its limit at each of `times`."""
    return [birth_line(MONITOR, "noise", DISTRICT, times[0] - 86_400_000, noise_zone="2"),
            *(reading_line(MONITOR, "noise", DISTRICT, ts, seq=ts // 1000, values={
                "laeq": 75.0, "noise_limit_db": 60.0, "noise_exceeds_limit": True})
              for ts in times)]


def exceeding(summary: dict[str, Any]) -> int:
    """Return the noise section's readings over the limit, both periods together."""
    return sum(summary["noise"][period]["exceeding_readings"] for period in ("day", "night"))


async def test_a_summary_of_the_present_reads_history_once_then_the_renewal_reads_it(
        settings: ApiSettings, mosquitto: stack.Server) -> None:
    t = now_ms()
    write_lines(settings.influx_url, settings.influx_db,
                [birth_point(lot_birth(ts=t - 3_600_000)),
                 *monitor_lines([t - 180_000, t - 120_000])])
    url = f"/v1/districts/{DISTRICT}/summary"
    async with run(settings) as one:
        await wait_until(lambda: one.live.history.kept_at(DISTRICT) is not None)  # at start
        first = await one.get(url)
        assert exceeding(first) == 2
        assert first["history_at"] == one.live.history.kept_at(DISTRICT)
        assert first["history_at"] <= first["at"]

        # The district changes, so the summary is made again: from memory, history included.
        influx = one.app.state.influx
        one.lose_influxdb()
        publish_all(mosquitto.port, [(state_topic(DISTRICT, root=settings.topic_root),
                                      lot_state(120, ts=now_ms(), seq=8))], retain=True)
        await wait_until(lambda: (one.live.newest(LOT) or {}).get("seq") == 8)
        again = await one.get(url)
        assert again["parking"]["free_spaces"] == 120  # the present is new
        assert (again["history_at"], exceeding(again)) == (first["history_at"], 2)
        assert again["at"] > first["at"]

        # A renewal reads the history again and keeps the summary it made.
        one.app.state.influx = influx
        write_lines(settings.influx_url, settings.influx_db, monitor_lines([now_ms() - 1_000]))
        renewal = asyncio.create_task(renew_summaries(influx, one.live, sections(),
                                                      every_s=0.05))
        try:
            await wait_until(lambda: (one.live.history.kept_at(DISTRICT) or 0)
                             > first["history_at"])
        finally:
            renewal.cancel()
        renewed = await one.get(url)
        assert renewed["history_at"] > first["history_at"]
        assert exceeding(renewed) == 3


def test_kept_history_is_served_until_stale_and_forgotten_when_not_asked() -> None:
    history = SummaryHistory()
    kept = history.reads("alpha", 1_000_000)
    assert history.reads("alpha", 1_000_000 + STALE_MS) is kept
    fresh = history.reads("alpha", 1_000_001 + STALE_MS)
    assert fresh is not kept
    assert fresh.at_ms == 1_000_001 + STALE_MS
    assert list(history.due()) == ["alpha"]

    assert list(history.due(forget_s=-1)) == []  # not asked within: forgotten
    history.keep("alpha", KeptReads(2_000_000))  # a renewal that ends after: not kept
    assert history.reads("alpha", 2_000_000).at_ms == 2_000_000
    assert history.reads("alpha", 2_000_000) is not kept
