"""The incident record through a real InfluxDB: what the desk wrote is what a restart reads.

The points go in as the ingester writes them (line protocol, ms precision) and
come back through the same query a restarted ingester runs, so every field —
a note with quotes and line feeds, a street, the alert episodes as JSON, the
nulls — survives the trip, and only the newest state of each open incident of
the partition is taken back.
"""

from __future__ import annotations

import msgspec
import pytest

from ingest.history import History
from ingest.incidents.record import (
    _string_field,
    audit_point,
    incident_point,
    read_open,
    read_sites,
)
from ingest.points import alert_point
from ops import stack
from tests.api.conftest import birth_line, write_lines
from tests.ingest.incidents.test_desk import MINUTE, STORM, T0, alert, desk, feed, resolved
from urbanpulse.lineprotocol import format_field

pytestmark = pytest.mark.services


def history(influxd: stack.Server, database: str) -> History:
    return History(url=influxd.url, database=database, headers={}, timeout_s=10,
                   retry_max_s=1)


async def test_a_restart_reads_back_the_newest_state_of_each_open_incident(
        influxd: stack.Server, influx_db: str) -> None:
    work = desk()
    changes = feed(work, [*STORM, alert("pm25", "air-pudong-0002", at=T0 + MINUTE),
                          alert("cover-open", "manhole-huangpu-0003", at=T0 + 2 * MINUTE)])
    flood, air, cover = work.open
    for step in (work.tick(T0 + 40 * MINUTE),
                 work.transition(flood.incident_id, "dispatched", "duty officer",
                                 'Crew "B",\nsouth gate.', T0 + 41 * MINUTE),
                 work.transition(cover.incident_id, "closed", "ops", "", T0 + 42 * MINUTE)):
        changes.incidents += step.incidents
        changes.audit += step.audit
    write_lines(influxd.url, influx_db, [incident_point(state) for state in changes.incidents]
                + [audit_point(entry) for entry in changes.audit]
                + [alert_point(one) for one in STORM[:3]]
                + [alert_point(resolved(STORM[2], T0 + 50 * MINUTE))])

    everywhere, active = await read_open(history(influxd, influx_db), [])
    # The alert record comes back with them (one request): the sewer's alert resolved.
    assert sorted(alert.rule for alert in active) == ["ponding", "rainstorm"]
    expected = {state.incident_id: state for state in work.open}
    assert {state.incident_id: state for state in everywhere} == expected
    by_id = {state.incident_id: state for state in everywhere}
    assert (by_id[flood.incident_id].stage, by_id[flood.incident_id].note) == (
        "dispatched", 'Crew "B",\nsouth gate.')
    assert (by_id[air.incident_id].overrun, by_id[air.incident_id].street) == (True, "zhangjiang")
    assert len(by_id[flood.incident_id].alerts) == len(STORM)
    only_pudong, _ = await read_open(history(influxd, influx_db), ["pudong"])
    assert [state.incident_id for state in only_pudong] == [air.incident_id]


async def test_an_unreadable_incidents_point_is_skipped(influxd: stack.Server,
                                                       influx_db: str) -> None:
    work = desk()
    feed(work, STORM[:1])
    (good,) = work.open
    forged = msgspec.structs.replace(good, incident_id="0123456789abcdef")
    line = incident_point(forged).replace("alerts=\"[", "alerts=\"[not json,")
    write_lines(influxd.url, influx_db, [incident_point(good), line])
    restored, _ = await read_open(history(influxd, influx_db), [])
    assert [state.incident_id for state in restored] == [good.incident_id]


async def test_sites_come_from_the_newest_birth_of_each_sensor(influxd: stack.Server,
                                                              influx_db: str) -> None:
    write_lines(influxd.url, influx_db, [
        birth_line("ponding-huangpu-0001", "ponding", "huangpu", T0, site="old-site"),
        birth_line("ponding-huangpu-0001", "ponding", "huangpu", T0 + 1, site="peoples-square"),
        birth_line("rain-huangpu-0001", "rain", "huangpu", T0, site="the-bund")])
    sites = await read_sites(history(influxd, influx_db),
                             {"ponding-huangpu-0001", "rain-huangpu-0001", "never-born"})
    assert sites == {"ponding-huangpu-0001": "peoples-square", "rain-huangpu-0001": "the-bund"}


@pytest.mark.parametrize("text", ['plain', 'a "quoted" note', "back\\slash", '\\"', "line\nfeed"])
def test_the_episodes_field_is_escaped_as_every_string_field(text: str) -> None:
    assert _string_field(text) == format_field(text)
