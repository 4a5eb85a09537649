"""`/v1/{kind}/{view}`: the lists kinds declare as views, such as parking guidance.

One route per view of every registered kind, built when the app is, with the
same parameters for all: `district`, `near`, `radius_m`, `limit` and `at`.
Without `at` the births and current readings come from the latest state in
memory (once loaded); with `at`, from InfluxDB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from api.answers import json_answer
from api.deps import LiveDep, influx_for
from api.kind_views import chosen, distances, list_near, list_ranked, views
from api.live import HeldQueries
from api.models import INFLUX_ERRORS
from api.params import (
    AtQuery,
    DistrictQuery,
    NearQuery,
    RadiusQuery,
    ViewLimitQuery,
    invalid,
    parse_near,
    to_ms,
)
from api.routes.districts import UNKNOWN_DISTRICT, unknown_district
from api.store import SensorStore
from urbanpulse.influxql import Queries
from urbanpulse.kinds.summaries import View


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


def _camel(name: str) -> str:
    return "".join(word.capitalize() for word in name.split("-"))


def answer_model(name: str, view: View[Any]) -> type[BaseModel]:
    """Return the response model of a view: its items, how many matched, and the time."""
    fields: dict[str, Any] = {
        "items": (list[view.item], ...),  # type: ignore[name-defined]
        "total": (int, Field(description="Items that matched; `items` holds the first "
                                         "`limit` of them (there is no offset)")),
        "at": (int, Field(description="Time the items describe, epoch ms")),
    }
    model: type[BaseModel] = create_model(name, __base__=_Answer,
                                          __doc__=f"{view.summary}.", **fields)
    return model


def _endpoint(kind: str, view: View[Any], answer: type[BaseModel]) -> Any:
    async def endpoint(*, request: Request, live: LiveDep, district: DistrictQuery = None,
                       near: NearQuery = None, radius_m: RadiusQuery = 5000,
                       limit: ViewLimitQuery = 20, at: AtQuery = None) -> Response:
        if district is None and near is None:
            raise invalid("district", "give a district, a place near=lat,lon, or both", None)
        at_ms = to_ms(at or datetime.now(UTC))
        place = None if near is None else parse_near(near)
        async with influx_for(request) as influx:
            queries: Queries = influx
            if live is not None and at is None:  # the present: births and readings in memory
                queries = HeldQueries(influx, live)
                if district is not None and not live.has_district(district):
                    raise unknown_district(district)
                if place is None:
                    births = live.sensors(kind=kind, district=district, until_ms=at_ms,
                                          lists=view.lists)
                elif view.keeps is not None:  # the first `limit` at once (`Grid.nearest`)
                    closest, total = live.nearest(view, place, radius_m, kind=kind,
                                                  district=district, until_ms=at_ms,
                                                  at_ms=at_ms, limit=limit)
                    return json_answer(live.answers.near_page(view, closest, total=total,
                                                              at_ms=at_ms))
                else:
                    placed = live.within(place, radius_m, kind=kind, district=district,
                                         until_ms=at_ms, lists=view.lists)
            else:
                store = SensorStore(influx)
                every = await store.births(kind=kind, district=district, until_ms=at_ms)
                if not every and district is not None and \
                        not await store.has_district(district):
                    raise unknown_district(district)
                births = chosen(view, every)
                if place is not None:
                    placed = distances(place, births, radius_m)
            if place is None:
                listed = await list_ranked(queries, kind, view, births, limit=limit,
                                           at_ms=at_ms)
            else:
                listed = await list_near(queries, kind, view, placed, limit=limit, at_ms=at_ms)
        found = answer(items=listed.items, total=listed.total, at=at_ms)
        return json_answer(found.__pydantic_serializer__.to_json(found))

    return endpoint


def build_router() -> APIRouter:
    """Return a router with a route for every view of every registered kind."""
    router = APIRouter()
    declared = views()
    names = [name for _, name in declared]
    for (kind, name), view in declared.items():
        # Two kinds may name a view alike; their answers then need distinct schema names.
        model_name = _camel(name) if names.count(name) == 1 else _camel(kind) + _camel(name)
        answer = answer_model(model_name, view)
        router.add_api_route(
            f"/{kind}/{name}", _endpoint(kind, view, answer), methods=["GET"], name=name,
            response_model=answer, summary=view.summary, description=view.description,
            tags=[kind], responses={**UNKNOWN_DISTRICT, **INFLUX_ERRORS})
    return router
