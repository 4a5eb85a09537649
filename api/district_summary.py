"""A district's summary at one time: one section per kind, and the active alerts.

Every kind whose `summary.py` declares a `SECTION` has a section, keyed by the
kind's name at the top level of the answer (`{"district", "at", "day_start",
"<kind>": {...}, ..., "alerts": {...}}`). `summary_model` builds the response
model from the registry, one field per section typed with the section's model,
so the OpenAPI document shows every section. The sections and the alerts are
gathered at once; each section gets the district's births of its kind. The
summary of the present reads births, current readings and active alerts from
the latest state in memory (`api.live`); one of a past time reads InfluxDB.
`present_summary` keeps the summary of the present a short while, encoded
(`api.answers`), and has the requests that come while it is made wait for it.
What the summary of the present reads of history (a day's counts, registers,
compliance) is kept per district and read again every minute in the background
(`api.summary_history`, `renew_summaries`), so it is made from memory and tells
the time its history was read to as `history_at`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model

from api.alert_store import AlertStore
from api.answers import HeldAnswers
from api.errors import ApiError
from api.influx import InfluxQuery
from api.live import HeldQueries, LiveState
from api.models import Alert, Sensor, SeverityName
from api.store import SensorStore
from api.summary_history import RENEW_S, KeptReads
from api.view_models import AlertCounts
from urbanpulse.influxql import Queries
from urbanpulse.kinds import KINDS, part
from urbanpulse.kinds.summaries import Section, SummaryRequest, local_day_start

log = logging.getLogger(__name__)

SEVERITIES: tuple[SeverityName, ...] = get_args(SeverityName)


class _Summary(BaseModel):
    model_config = ConfigDict(frozen=True)


FIXED = ("district", "at", "history_at", "day_start", "alerts")
"""The summary's own fields, which no kind's section may be named like."""


def sections() -> dict[str, Section[Any]]:
    """Return the section of every registered kind that declares one, by kind name.

    Raises:
        TypeError: A kind's `SECTION` is not a Section.
        ValueError: A kind with a section is named like one of the summary's own fields.
    """
    found = {}
    for kind in KINDS:
        section = getattr(part(kind, "summary"), "SECTION", None)
        if section is None:
            continue
        if not isinstance(section, Section):
            raise TypeError(f"The SECTION of kind {kind!r} is a {type(section).__name__}, "
                            "not a Section.")
        if kind in FIXED:
            raise ValueError(f"Kind {kind!r} cannot have a summary section: the summary's "
                             f"own fields are {', '.join(FIXED)}.")
        found[kind] = section
    return found


def summary_model(parts: Mapping[str, Section[Any]]) -> type[BaseModel]:
    """Return the response model of a summary: its own fields and one per section."""
    return _model(tuple((kind, section.model) for kind, section in parts.items()))


@cache
def _model(parts: tuple[tuple[str, type[BaseModel]], ...]) -> type[BaseModel]:
    # Cached: one class per set of sections, as the OpenAPI document names it once.
    fields: dict[str, Any] = {
        "district": (str, Field(examples=["pudong"])),
        "at": (int, Field(description="Time the summary describes, epoch ms")),
        "history_at": (int, Field(
            description="Time the sections' history (energy drawn today, noise exceedances, "
                        "pressure compliance) is read to, epoch ms: `at` for a past time; for "
                        "the present, when the api last read the district's history, which "
                        "it does every minute (at most three minutes before `at`)")),
        "day_start": (int, Field(
            description="Local (Asia/Shanghai) midnight of that day, epoch ms")),
        **{kind: (model, ...) for kind, model in parts},
        "alerts": (AlertCounts, ...),
    }
    model: type[BaseModel] = create_model(
        "DistrictSummary", __base__=_Summary, __doc__="What a district looks like at one time.",
        **fields)
    return model


async def summarise_district(influx: InfluxQuery, district: str,
                             parts: Mapping[str, Section[Any]], *, at_ms: int,
                             live: LiveState | None = None,
                             reads: KeptReads | None = None) -> BaseModel | None:
    """Return the summary of `district` at `at_ms`, or None when no sensor was ever born in it.

    The sensors are those born at or before `at_ms`, each as its newest birth then.
    `parts` are the sections (`sections()`, taken when the app was built). With
    `live` (only for the present), births, current readings and active alerts
    come from memory, and InfluxDB is asked only for the history some sections need:
    with `reads`, history to `reads.at_ms`, answered from there where it can be.
    """
    if live is not None:
        if not live.has_district(district):
            return None
        held = {kind: live.sensors(kind=kind, district=district, until_ms=at_ms)
                for kind in parts}
        history_ms = at_ms if reads is None else reads.at_ms
        built = await _sections(HeldQueries(influx, live, reads), district, parts, held,
                                at_ms=at_ms, history_ms=history_ms)
        return _summary(district, parts, built, list(live.active_alerts(district=district)),
                        at_ms=at_ms, history_ms=history_ms)
    store = SensorStore(influx)
    births = await store.births(district=district, until_ms=at_ms)
    if not births and not await store.has_district(district):
        return None
    by_kind: dict[str, list[Sensor]] = {kind: [] for kind in parts}
    for sensor in births:
        by_kind.setdefault(sensor.kind, []).append(sensor)
    built, alerts = await asyncio.gather(
        _sections(influx, district, parts, by_kind, at_ms=at_ms, history_ms=at_ms),
        AlertStore(influx).active(district=district, end_ms=at_ms))
    return _summary(district, parts, built, alerts, at_ms=at_ms, history_ms=at_ms)


async def present_summary(influx: InfluxQuery, live: LiveState, district: str,
                          parts: Mapping[str, Section[Any]], *, at_ms: int) -> bytes | None:
    """Return the encoded summary of `district` now (None: no sensor was ever born in it).

    A summary kept in `live.answers` serves while the district has not changed and
    for `SUMMARY_MAX_AGE_MS`; requests that come while one is made wait for that
    one, whose `at` is then a little earlier than theirs.
    """
    answers = live.answers
    version = live.version(district)
    kept = answers.summary(district, version=version, now_ms=at_ms)
    if kept is not None:
        return kept
    making = answers.making.get(district)
    if making is None:
        making = answers.making[district] = asyncio.ensure_future(
            _make(influx, live, answers, district, parts, at_ms=at_ms, version=version))
        making.add_done_callback(lambda done: _made(answers, district, done))
    return await asyncio.shield(making)  # a client that leaves does not stop the others' answer


def _made(answers: HeldAnswers, district: str, done: asyncio.Future[bytes | None]) -> None:
    del answers.making[district]
    if not done.cancelled():
        done.exception()  # retrieved: each waiting request raised it already, if any waited


async def _make(influx: InfluxQuery, live: LiveState, answers: HeldAnswers, district: str,
                parts: Mapping[str, Section[Any]], *, at_ms: int, version: int) -> bytes | None:
    reads = live.history.reads(district, at_ms)
    # A renewal may have read the kept history a moment after at_ms: describe that time then.
    summary = await summarise_district(influx, district, parts, at_ms=max(at_ms, reads.at_ms),
                                       live=live, reads=reads)
    if summary is None:
        return None
    encoded = summary.__pydantic_serializer__.to_json(summary)
    answers.keep_summary(district, encoded, version=version, at_ms=at_ms)
    return encoded


async def renew_summaries(influx: InfluxQuery, live: LiveState,
                          parts: Mapping[str, Section[Any]], *, every_s: float = RENEW_S
                          ) -> None:
    """Read the history of the districts' summaries, then again every `every_s`, for good.

    The first reading, once the latest state is loaded, is of every district, so
    that no summary waits for it; the later ones of the districts asked for lately
    (`SummaryHistory.due`). Each makes the district's summary at that time, which
    is kept as the answer too; one that fails (InfluxDB away) leaves the history
    kept before.
    """
    await live.loaded_event.wait()
    for district in live.kinds_by_district():
        live.history.ask(district)
    while True:
        for district in live.history.due():
            version = live.version(district)
            at_ms = int(time.time() * 1000)
            reads = KeptReads(at_ms)
            try:
                summary = await summarise_district(influx, district, parts, at_ms=at_ms,
                                                   live=live, reads=reads)
            except ApiError as error:
                log.warning("the history of district %s was not read again: %s", district, error)
                continue
            if summary is not None:
                live.history.keep(district, reads)
                live.answers.keep_summary(district, summary.__pydantic_serializer__.to_json(
                    summary), version=version, at_ms=at_ms)
        await asyncio.sleep(every_s)


async def _sections(queries: Queries, district: str, parts: Mapping[str, Section[Any]],
                    births: Mapping[str, Sequence[Sensor]], *, at_ms: int, history_ms: int
                    ) -> list[BaseModel]:
    return list(await asyncio.gather(*(section.build(SummaryRequest(
        queries=queries, kind=kind, district=district, births=births[kind],
        at_ms=at_ms, history_ms=history_ms)) for kind, section in parts.items())))


def _summary(district: str, parts: Mapping[str, Section[Any]], built: Sequence[BaseModel],
             alerts: Sequence[Alert], *, at_ms: int, history_ms: int) -> BaseModel:
    by_severity = {severity: sum(1 for alert in alerts if alert.severity == severity)
                   for severity in SEVERITIES}
    return summary_model(parts)(
        district=district, at=at_ms, history_at=history_ms, day_start=local_day_start(at_ms),
        **dict(zip(parts, built, strict=True)),
        alerts=AlertCounts(total=len(alerts), **by_severity))
