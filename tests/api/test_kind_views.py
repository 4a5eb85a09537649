"""A kind's summary section and views reach the api through the registry alone.

The test kind `underpass` (tests/api/underpass/) is registered like an installed
kind; the api, built afterwards, serves its section in the district summary and
its `flooded` view at `/v1/underpass/flooded`, with no api code naming it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.kind_views import distance_m, is_within_box
from api.main import create_app
from ops import stack
from tests.api import underpass
from tests.api.city import AT, AT_ISO, HERE
from tests.api.conftest import birth_line, reading_line, write_lines
from tests.api.underpass import summary
from urbanpulse.errors import TopicError
from urbanpulse.kinds import KINDS, register_module, unregister
from urbanpulse.settings import ApiSettings, load

KIND = "underpass"
NEAR = f"{HERE[0]},{HERE[1]}"
GAUGES = [
    # (sensor, degrees north of HERE, depth, minutes old, listed by the view)
    ("underpass-lingang-0001", 0.001, 30.0, 1, True),
    ("underpass-lingang-0002", 0.01, 50.0, 1, True),
    ("underpass-lingang-0003", 0.0, 0.0, 1, True),  # dry: no item
    ("underpass-lingang-0004", 0.0, 80.0, 1, False),  # no closing depth: not listed
    ("underpass-lingang-0005", 0.0, 90.0, 5, True),  # stale: older than three intervals
]


@pytest.fixture
def registered() -> Iterator[None]:
    """The test kind, registered for the test only."""
    assert KIND not in KINDS
    register_module(underpass.__name__)
    yield
    unregister(KIND)


@pytest.fixture
def gauges(registered: None, influxd: stack.Server, influx_db: str) -> None:
    """Births and readings of the test kind's gauges in district `lingang`."""
    lines = []
    for seq, (sensor, north, depth, age_min, listed) in enumerate(GAUGES):
        attributes: dict[str, Any] = {"closes_at_cm": 20.0} if listed else {}
        lines += [birth_line(sensor, KIND, "lingang", AT - 3_600_000, lat=HERE[0] + north,
                             lon=HERE[1], **attributes),
                  reading_line(sensor, KIND, "lingang", AT - age_min * 60_000, seq=seq,
                               values={"depth_cm": depth})]
    write_lines(influxd.url, influx_db, lines)


async def flooded(api: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await api.get(f"/v1/{KIND}/flooded", params={"at": AT_ISO, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.usefixtures("gauges")
async def test_the_summary_holds_the_section_of_a_registered_kind(
        api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/districts/lingang/summary", params={"at": AT_ISO})

    assert response.status_code == 200, response.text
    assert response.json()[KIND] == {"gauges": 4, "deepest_cm": 80.0}


@pytest.mark.usefixtures("gauges")
async def test_a_view_lists_items_nearest_first_within_the_radius(
        api: httpx.AsyncClient) -> None:
    near = await flooded(api, near=NEAR)
    close = await flooded(api, near=NEAR, radius_m="500")

    assert [(item["sensor"], item["distance_m"]) for item in near["items"]] == [
        ("underpass-lingang-0001", 111.1951), ("underpass-lingang-0002", 1111.9508)]
    assert (near["total"], near["at"]) == (2, AT)
    assert [item["sensor"] for item in close["items"]] == ["underpass-lingang-0001"]


@pytest.mark.usefixtures("gauges")
async def test_a_view_without_a_place_follows_its_ranking_and_limit(
        api: httpx.AsyncClient) -> None:
    body = await flooded(api, district="lingang")
    first = await flooded(api, district="lingang", limit="1")

    assert [(item["sensor"], item["depth_cm"], item["distance_m"]) for item in body["items"]] == [
        ("underpass-lingang-0002", 50.0, None), ("underpass-lingang-0001", 30.0, None)]
    assert ([item["sensor"] for item in first["items"]], first["total"]) == (
        ["underpass-lingang-0002"], 2)


@pytest.mark.usefixtures("registered")
def test_the_document_shows_the_kinds_section_and_view() -> None:
    schema = create_app(load(ApiSettings)).openapi()

    operation = schema["paths"][f"/v1/{KIND}/flooded"]["get"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    sections = schema["components"]["schemas"]["DistrictSummary"]["properties"]
    assert (operation["tags"], operation["summary"], ok) == (
        [KIND], "Flooded underpasses", {"$ref": "#/components/schemas/Flooded"})
    assert sections[KIND] == {"$ref": "#/components/schemas/UnderpassSummary"}
    assert {"district", "at", "history_at", "day_start", "alerts", *KINDS} == set(sections)


def test_an_app_built_without_the_kind_has_no_route_for_it() -> None:
    schema = create_app(load(ApiSettings)).openapi()

    assert f"/v1/{KIND}/flooded" not in schema["paths"]
    assert KIND not in schema["components"]["schemas"]["DistrictSummary"]["properties"]


@pytest.mark.usefixtures("registered")
def test_a_section_or_view_of_the_wrong_type_stops_the_app_being_built(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary, "SECTION", summary.VIEWS["flooded"])
    with pytest.raises(TypeError, match="The SECTION of kind 'underpass' is a View"):
        create_app(load(ApiSettings))

    monkeypatch.undo()
    monkeypatch.setattr(summary, "VIEWS", {"flooded": summary.SECTION})
    with pytest.raises(TypeError, match="The view 'flooded' of kind 'underpass' is a Section"):
        create_app(load(ApiSettings))


@pytest.mark.usefixtures("registered")
def test_a_view_name_outside_the_topic_grammar_stops_the_app_being_built(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary, "VIEWS", {"Flooded": summary.VIEWS[
        "flooded"]})

    with pytest.raises(TopicError, match="Invalid view name of kind 'underpass' 'Flooded'"):
        create_app(load(ApiSettings))


def test_the_box_around_a_place_holds_every_point_of_its_circle() -> None:
    rng = random.Random(18)
    for _ in range(20_000):
        place = (rng.uniform(-80, 80), rng.uniform(-180, 180))
        radius = rng.uniform(1, 20_000)
        lat = min(max(place[0] + rng.uniform(-0.3, 0.3), -90), 90)
        lon = (place[1] + rng.uniform(-0.5, 0.5) + 180) % 360 - 180
        if distance_m(*place, lat, lon) <= radius:
            assert is_within_box(place, radius, lat, lon), (place, radius, lat, lon)
    assert not is_within_box((31.2, 121.5), 1000, 31.3, 121.5)  # 11 km north
