"""`/v1/districts`: the districts, and each one's summary at a time.

With the latest state loaded, the list is encoded once per change of the births
and a summary of the present is kept for a short while (`api.answers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from api.answers import json_answer
from api.deps import LiveDep, influx_for
from api.district_summary import present_summary, sections, summarise_district, summary_model
from api.models import INFLUX_ERRORS, ErrorDetail
from api.params import AtQuery, DistrictPath, to_ms
from api.store import SensorStore
from api.view_models import DistrictInfo, DistrictList
from urbanpulse.kinds.summaries import Section

UNKNOWN_DISTRICT: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "No sensor was ever born in this district"},
}


def unknown_district(district: str) -> HTTPException:
    """Return the 404 of a district where InfluxDB holds no sensor birth."""
    return HTTPException(
        status_code=404,
        detail=f"Unknown district {district!r}: InfluxDB holds no sensor birth in it.")


async def list_districts(request: Request, live: LiveDep) -> Response:
    """List every district with a stored sensor birth, by name, with its sensors per kind."""
    if live is not None:
        return json_answer(live.answers.districts(live.kinds_by_district()))
    async with influx_for(request) as influx:
        counts = await SensorStore(influx).kinds_by_district()
    answer = DistrictList(items=[DistrictInfo(district=name, sensors=dict(sorted(kinds.items())))
                                 for name, kinds in sorted(counts.items())])
    return json_answer(answer.__pydantic_serializer__.to_json(answer))


def _summary_endpoint(parts: Mapping[str, Section[Any]]) -> Any:
    async def district_summary(district: DistrictPath, request: Request, live: LiveDep,
                               at: AtQuery = None) -> Response:
        """Summarise a district at `at` (default: now).

        One section per sensor kind, keyed by the kind's name (for the built-in
        kinds: parking occupancy and free spaces of lots and bays, the AQI of the
        stations' mean concentrations with its level, colour and primary
        pollutants, each water station's class against its target, electricity
        drawn today against the same weekday's baseline, GB 3096 noise exceedances
        of the latest day and night periods), and active alerts by severity. Only
        readings no older than three reporting intervals count as current, and
        sensors born after `at` do not count; "today" and day/night are
        Asia/Shanghai local time. A district where no sensor was ever born is a 404.
        Without `at`, births, current readings and alerts come from the api's
        latest state in memory, and the history some sections count (energy drawn
        today, noise exceedances, pressure compliance) is the api's reading of it
        at `history_at`, renewed every minute; with `at`, all from InfluxDB at `at`.
        """
        at_ms = to_ms(at or datetime.now(UTC))
        async with influx_for(request) as influx:
            if live is not None and at is None:
                encoded = await present_summary(influx, live, district, parts, at_ms=at_ms)
            else:
                summary = await summarise_district(influx, district, parts, at_ms=at_ms)
                encoded = None if summary is None else \
                    summary.__pydantic_serializer__.to_json(summary)
        if encoded is None:
            raise unknown_district(district)
        return json_answer(encoded)

    return district_summary


def build_router() -> APIRouter:
    """Return the districts' routes, the summary's answer built from the registered kinds."""
    router = APIRouter(prefix="/districts", tags=["districts"])
    router.add_api_route("", list_districts, methods=["GET"], summary="List districts",
                         response_model=DistrictList, responses=INFLUX_ERRORS)
    parts = sections()
    router.add_api_route("/{district}/summary", _summary_endpoint(parts), methods=["GET"],
                         response_model=summary_model(parts), summary="A district at a glance",
                         responses={**UNKNOWN_DISTRICT, **INFLUX_ERRORS})
    return router
