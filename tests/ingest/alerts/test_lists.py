"""The alerts dashboard's tables as the ingester writes them: the log and the open list."""

from __future__ import annotations

import msgspec
import pytest

from ingest.alerts.lists import REMEMBERED_MS, SEEDED_MS, ChangeLog, OpenList
from ingest.history import History
from ops import stack
from tests.api.conftest import write_lines
from tests.conftest import influx_rows
from tests.ingest.incidents.test_desk import T0, alert
from urbanpulse.alert_views import LOG_SLOTS, OPEN_RANKS, OPEN_REFRESH_MS


def tags(point: str) -> str:
    return point.split(" ", 1)[0]


def test_a_change_is_logged_at_its_place_among_its_districts_changes_of_that_millisecond(
        ) -> None:
    log = ChangeLog()

    def slots(*changes: tuple[str, int]) -> list[str]:
        return [tags(log.point(alert("pm25", sensor, at=at))) for sensor, at in changes]

    assert slots(("air-pudong-0001", T0), ("air-pudong-0002", T0)) == [
        "alerts_log,district=pudong,slot=000", "alerts_log,district=pudong,slot=001"]
    assert slots(("air-pudong-0003", T0 + 1)) == ["alerts_log,district=pudong,slot=000"]
    assert tags(log.point(alert("ponding", "ponding-huangpu-0001", at=T0))) == (
        "alerts_log,district=huangpu,slot=000")
    assert slots(("air-pudong-0004", T0)) == [  # late, but its millisecond is remembered
        "alerts_log,district=pudong,slot=002"]
    burst = slots(*((f"air-pudong-{n:04}", T0 + 2) for n in range(LOG_SLOTS + 1)))
    assert len(set(burst)) == LOG_SLOTS
    assert burst[LOG_SLOTS] == burst[0]  # past the slots: the last LOG_SLOTS are kept
    # A day on, the places of T0 are forgotten: a change that late takes the first place.
    assert slots(("air-pudong-0005", T0 + REMEMBERED_MS + 1), ("air-pudong-0006", T0)) == [
        "alerts_log,district=pudong,slot=000", "alerts_log,district=pudong,slot=000"]
    log = ChangeLog()
    acked = msgspec.structs.replace(alert("pm25", "air-pudong-0001", "acknowledged", at=T0),
                                    acked_by="duty officer", note="crew sent", value=151.0)
    line = log.point(acked)
    for field in ('state="acknowledged"', 'severity="high"', 'rule="pm25"', 'kind="air"',
                  'sensor="air-pudong-0001"', 'acked_by="duty officer"', 'note="crew sent"',
                  "value=151.0", f"since={acked.since}i"):
        assert field in line, field
    assert line.endswith(f" {T0}")


@pytest.mark.services
async def test_a_restarted_log_takes_the_next_place_of_a_millisecond_written_before(
        influxd: stack.Server, influx_db: str) -> None:
    before = ChangeLog()
    write_lines(influxd.url, influx_db, [
        before.point(alert("pm25", "air-pudong-0001", at=T0 - SEEDED_MS - 1)),  # not read
        before.point(alert("pm25", "air-pudong-0002", at=T0)),
        before.point(alert("pm25", "air-pudong-0003", at=T0)),
        before.point(alert("ponding", "ponding-huangpu-0001", at=T0))])
    after = ChangeLog()
    await after.seed(History(url=influxd.url, database=influx_db, headers={}, timeout_s=10,
                             retry_max_s=1).read)
    write_lines(influxd.url, influx_db, [
        after.point(alert("pm25", "air-pudong-0004", at=T0)),
        after.point(alert("pm25", "air-pudong-0005", at=T0 - SEEDED_MS - 1))])

    rows = influx_rows(influxd.url, influx_db, 'SELECT "sensor", "district", "slot" FROM '
                       f'"alerts_log" WHERE time = {T0}ms')
    assert sorted((row["sensor"], row["slot"]) for row in rows) == [
        ("air-pudong-0002", "000"), ("air-pudong-0003", "001"), ("air-pudong-0004", "002"),
        ("ponding-huangpu-0001", "000")]
    # Older than what a start reads: the first place again, over the change that held it.
    assert [row["sensor"] for row in influx_rows(
        influxd.url, influx_db, 'SELECT "sensor" FROM "alerts_log" WHERE '
        f'time = {T0 - SEEDED_MS - 1}ms')] == ["air-pudong-0005"]


def test_the_open_list_ranks_by_severity_then_age_and_writes_only_what_changed() -> None:
    listing = OpenList()
    old = alert("pm25", "air-pudong-0001", at=T0, since=T0 - 600_000)
    new = alert("pm25", "air-pudong-0002", at=T0, since=T0)
    critical = alert("pm25", "air-pudong-0003", at=T0, since=T0, severity="critical")
    cover = alert("cover-open", "manhole-huangpu-0003", at=T0)
    first = listing.points([new, old, critical, cover], T0)
    ranked = {tags(point): point for point in first}
    assert sorted(ranked) == [
        "alerts_open,district=huangpu,kind=manhole,rank=000",
        "alerts_open,district=pudong,kind=air,rank=000",
        "alerts_open,district=pudong,kind=air,rank=001",
        "alerts_open,district=pudong,kind=air,rank=002"]
    assert [ranked[f"alerts_open,district=pudong,kind=air,rank=00{rank}"].split(
        'sensor="')[1][:15] for rank in range(3)] == [
            "air-pudong-0003", "air-pudong-0001", "air-pudong-0002"]
    assert "kind=" not in first[0].split(" ", 1)[1]  # a tag, not a field too

    # Nothing changed: nothing written, until the refresh rewrites every rank.
    assert listing.points([new, old, critical, cover], T0 + 5_000) == []
    # The critical one resolved: the two below move up, the third rank falls vacant.
    moved = listing.points([new, old, cover], T0 + 10_000)
    assert sorted(tags(point) for point in moved) == [
        "alerts_open,district=pudong,kind=air,rank=000",
        "alerts_open,district=pudong,kind=air,rank=001",
        "alerts_open,district=pudong,kind=air,rank=002"]
    assert [point.split(" ")[1] for point in moved
            if "rank=002" in point] == ['alert_id=""']
    acked = msgspec.structs.replace(new, state="acknowledged", acked_by="ops")
    assert [tags(point) for point in listing.points([acked, old, cover], T0 + 15_000)] == [
        "alerts_open,district=pudong,kind=air,rank=001"]
    assert len(listing.points([acked, old, cover], T0 + OPEN_REFRESH_MS)) == 3
    assert listing.points([], T0 + OPEN_REFRESH_MS + 1) != []  # all three fall vacant
    assert listing.points([], T0 + OPEN_REFRESH_MS + 2) == []


def test_the_open_list_holds_at_most_its_ranks_per_district_and_kind() -> None:
    many = [alert("pm25", f"air-pudong-{n:04}", at=T0, since=T0 + n)
            for n in range(OPEN_RANKS + 5)]
    points = OpenList().points(many, T0)
    assert len(points) == OPEN_RANKS
    assert 'sensor="air-pudong-0000"' in points[0]
