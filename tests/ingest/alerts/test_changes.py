"""Alert changes counted per minute: each change once, through restarts and redeliveries.

The counts must equal InfluxQL's count of the raw `alerts` points of the same
minute and combination, whatever was written before the counter started, and
a change written again must not count again.
"""

from __future__ import annotations

import pytest

from ingest.alerts.changes import HELD_MS, MINUTE_MS, AlertChanges
from ingest.history import History
from ingest.points import alert_point
from ops import stack
from tests.api.conftest import write_lines
from tests.conftest import influx_rows
from tests.ingest.incidents.test_desk import alert, resolved
from urbanpulse.influxql import Series
from urbanpulse.messages import Alert

M0 = 1_795_000_020_000 - 1_795_000_020_000 % MINUTE_MS
"""The start of a minute."""


def raw(*alerts: Alert) -> list[Series]:
    """Return the series InfluxDB answers the read-back of a minute holding `alerts`."""
    return [Series(name="alerts", columns=["time", "since"], values=[[one.ts, one.since]],
                   tags={"alert_id": one.alert_id, "district": one.district, "kind": one.kind,
                         "severity": one.severity, "state": one.state}) for one in alerts]


def counts(points: list[str]) -> dict[str, int]:
    """Return each point's tag set and its count (the later point of a tag set wins)."""
    found = {}
    for point in points:
        key, fields, _ = point.split(" ")
        found[key] = int(fields.removeprefix("changes=").removesuffix("i"))
    return found


def test_a_minute_goes_on_from_what_was_written_and_counts_each_change_once() -> None:
    changes = AlertChanges()
    before = alert("ponding", "ponding-huangpu-0001", at=M0 + 1_000)  # written before a crash
    again = alert("surcharge", "sewer-huangpu-0001", at=M0 + 2_000)  # written, then redelivered
    new = alert("rainstorm", "rain-huangpu-0001", at=M0 + 3_000)
    assert changes.add(again) is None  # the minute is not held: it waits to be read back
    assert changes.add(new) is None
    assert changes.waiting == 1

    points = changes.take_up({M0: raw(before, again)})

    assert counts(points) == {
        "alerts_district_1m,district=huangpu,kind=ponding,severity=high,state=firing": 1,
        "alerts_district_1m,district=huangpu,kind=rain,severity=high,state=firing": 1,
        "alerts_district_1m,district=huangpu,kind=sewer,severity=high,state=firing": 1}
    assert all(point.endswith(f" {M0}") for point in points)
    assert changes.waiting == 0
    assert changes.add(again) is None
    assert changes.add(before) is None
    second = alert("ponding", "ponding-huangpu-0002", at=M0 + 4_000)
    assert changes.add(second) == (
        f"alerts_district_1m,district=huangpu,kind=ponding,severity=high,state=firing "
        f"changes=2i {M0}")
    # The same alert resolving in the same minute is another change, of another state.
    assert changes.add(resolved(second, M0 + 5_000)) == (
        f"alerts_district_1m,district=huangpu,kind=ponding,severity=high,state=resolved "
        f"changes=1i {M0}")


def test_only_the_partitions_districts_are_counted_and_old_minutes_are_let_go() -> None:
    changes = AlertChanges(["pudong"])
    ours = alert("pm25", "air-pudong-0001", at=M0)
    theirs = alert("ponding", "ponding-huangpu-0001", at=M0)
    assert [point.split(",")[1] for point in changes.take_up({M0: raw(ours, theirs)})] == [
        "district=pudong"]
    later = M0 + HELD_MS + MINUTE_MS
    changes.take_up({later: []})
    # Let go of: a change of the old minute waits to be read back again.
    assert changes.add(alert("pm25", "air-pudong-0002", at=M0 + 1)) is None
    assert changes.waiting == 1
    assert changes.add(alert("pm25", "air-pudong-0002", at=later + 1)) is not None


@pytest.mark.services
async def test_the_counts_equal_influxqls_count_of_the_raw_points(
        influxd: stack.Server, influx_db: str) -> None:
    """Raw points written before the counter started, then changes as the ingester emits
    them (some redelivered), across two minutes: the counts written are InfluxQL's."""
    history = History(url=influxd.url, database=influx_db, headers={}, timeout_s=10,
                      retry_max_s=1)
    earlier = [alert("pm25", f"air-pudong-{n:04}", at=M0 + n * 1_000) for n in range(1, 4)]
    write_lines(influxd.url, influx_db, [alert_point(one) for one in earlier])
    emitted = [*earlier[1:],  # redelivered after the restart
               *(alert("pm25", f"air-pudong-{n:04}", at=M0 + 50_000 + n * 5_000)
                 for n in range(4, 8)),  # the last three in the next minute
               resolved(earlier[0], M0 + MINUTE_MS + 1_000)]
    changes = AlertChanges()
    written: list[str] = []
    for one in emitted:
        written.append(alert_point(one))
        if (count := changes.add(one)) is not None:
            written.append(count)
    write_lines(influxd.url, influx_db, written)
    while changes.waiting:
        write_lines(influxd.url, influx_db, await changes.read_back(history.read))
    assert changes.add(emitted[0]) is None  # held now: a redelivery counts nothing

    def by_minute(query: str) -> dict[tuple[str, str], int]:
        return {(row["time"], row["state"]): row["n"] for row in influx_rows(
            influxd.url, influx_db, query) if row["n"]}

    span = f"time >= {M0}ms AND time < {M0 + 2 * MINUTE_MS}ms"
    expected = by_minute(f'SELECT count("since") AS "n" FROM "alerts" WHERE {span} '
                         'GROUP BY time(1m), "state"')
    assert sum(expected.values()) == 8
    assert by_minute(f'SELECT sum("changes") AS "n" FROM "alerts_district_1m" WHERE {span} '
                     'GROUP BY time(1m), "state"') == expected
