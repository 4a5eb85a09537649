"""The latest-state routes' answers, encoded once and kept until what they show changes.

A sensor's birth changes seldom and its reading every few seconds, while the
routes may be asked thousands of times a second: so each answer is JSON bytes
made by the route's own response model (pydantic's serialiser, as FastAPI
would encode it), kept here and dropped when `api.live.LiveState` takes a
newer birth or reading of the sensor, or any birth (the district list, pages).
A page of sensors joins the kept births' bytes, a sensor's detail is its birth's
bytes with the encoded reading added as the last field (`SensorDetail` is
`Sensor` plus `latest`), so nothing is encoded twice. A page of alerts joins
each alert's bytes, kept once per state while the alert is active (a resolved
alert, listed among those changed lately, is encoded as it is asked for).

A view's item near a place (parking guidance's lot) is its reading's item with
the distance as the last field, `distance_m`: the item is encoded once per
reading with a null distance and each answer writes the distance in its place
(`near_page`), as pydantic writes a float.

A district summary of the present depends on the clock as well (readings age
out of "current", the history sections read InfluxDB), so it is kept per
district for at most `SUMMARY_MAX_AGE_MS` and only while nothing of the
district changed (`LiveState.version`); its `at` tells the time it describes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from fastapi import Response

from api.alert_store import ACTIVE_STATES
from api.models import Alert, LatestReading, Sensor
from api.view_models import DistrictInfo, DistrictList
from urbanpulse.kinds import get_kind
from urbanpulse.kinds.summaries import Current, View

SUMMARY_MAX_AGE_MS: Final = 5_000
"""Longest a district summary of the present is served again, in ms: the period of the
ingester's district states (`URBANPULSE_INGEST_STATE_INTERVAL_S`), which the readings lag by."""


NO_DISTANCE: Final = b'"distance_m":null}'
"""How a view's item made without a place ends: the place of its distance."""


def json_answer(encoded: bytes) -> Response:
    """Return encoded JSON as FastAPI answers a route's model (no validation again)."""
    return Response(content=encoded, media_type="application/json")


def latest_json(kind: str, row: Mapping[str, Any] | None) -> bytes:
    """Return the JSON of `LatestReading` for a held row (the kind's metrics only), or null."""
    if row is None:
        return b"null"
    values = {name: float(value) for name in get_kind(kind).metrics
              if isinstance(value := row.get(name), int | float)}
    reading = LatestReading(ts=row["time"], seq=row["seq"], values=values)
    return reading.__pydantic_serializer__.to_json(reading)


def _page(items: Iterable[bytes], total: int, limit: int, offset: int) -> bytes:
    """Return the JSON of a page (`SensorPage`, `AlertPage`) from its items' kept JSON."""
    return b"".join((b'{"items":[', b",".join(items),
                     f'],"total":{total},"limit":{limit},"offset":{offset}}}'.encode()))


class HeldAnswers:
    """Encoded answers by sensor, the district list, and the summaries of the present."""

    def __init__(self) -> None:
        self._births: dict[str, bytes] = {}
        self._details: dict[str, bytes] = {}
        self._districts: bytes | None = None
        self._summaries: dict[str, tuple[int, int, bytes]] = {}
        self._alerts: dict[str, tuple[Alert, bytes]] = {}
        self._items: dict[str, dict[View[Any], bytes | None]] = {}
        self.making: dict[str, asyncio.Future[bytes | None]] = {}
        """The summaries being made, by district, which requests meanwhile wait for."""

    def forget_birth(self, sensor: str) -> None:
        """Drop what shows the birth of `sensor` (and the district list)."""
        self._births.pop(sensor, None)
        self._details.pop(sensor, None)
        self._items.pop(sensor, None)
        self._districts = None

    def forget_reading(self, sensor: str) -> None:
        """Drop what shows the newest reading of `sensor`."""
        self._details.pop(sensor, None)
        self._items.pop(sensor, None)

    def forget_alert(self, alert_id: str) -> None:
        """Drop the JSON of an alert that is no longer active."""
        self._alerts.pop(alert_id, None)

    def alert_page(self, alerts: Sequence[Alert], *, total: int, limit: int,
                   offset: int) -> bytes:
        """Return the JSON of `AlertPage` holding `alerts`, each active one encoded once per
        state."""
        return _page((self._alert(alert) for alert in alerts), total, limit, offset)

    def _alert(self, alert: Alert) -> bytes:
        if alert.state not in ACTIVE_STATES:
            return alert.__pydantic_serializer__.to_json(alert)
        kept = self._alerts.get(alert.alert_id)
        if kept is None or kept[0] is not alert:  # a newer state is another object
            kept = self._alerts[alert.alert_id] = (
                alert, alert.__pydantic_serializer__.to_json(alert))
        return kept[1]

    def near_page(self, view: View[Any], found: Sequence[tuple[float, Current]], *,
                  total: int, at_ms: int) -> bytes:
        """Return the JSON of a view's answer holding the items of `found` (current
        readings of the sensors `view.keeps`, with their distances: `LiveState.nearest`),
        each item encoded once per reading; `total` counts the matches."""
        items = []
        for metres, current in found:
            head = self._item_head(view, current)
            if head is None:  # `keeps` said it would make one
                total -= 1
            else:
                items.append(head + repr(metres).encode() + b"}")
        return b"".join((b'{"items":[', b",".join(items),
                         f'],"total":{total},"at":{at_ms}}}'.encode()))

    def _item_head(self, view: View[Any], current: Current) -> bytes | None:
        kept = self._items.setdefault(current.sensor.sensor, {})
        head = kept.get(view, b"")
        if head == b"":  # not made since the reading or the birth changed
            item = view.to_item(current, None)
            if item is None:
                head = None
            else:
                encoded = item.__pydantic_serializer__.to_json(item)
                if not encoded.endswith(NO_DISTANCE):
                    raise ValueError(f"{type(item).__name__} does not end with distance_m")
                head = encoded[:-len(b"null}")]
            kept[view] = head
        return head

    def birth(self, sensor: Sensor) -> bytes:
        """Return the JSON of `sensor` as `Sensor`."""
        encoded = self._births.get(sensor.sensor)
        if encoded is None:
            encoded = self._births[sensor.sensor] = \
                sensor.__pydantic_serializer__.to_json(sensor)
        return encoded

    def detail(self, sensor: Sensor, row: Mapping[str, Any] | None) -> bytes:
        """Return the JSON of `SensorDetail`: the birth of `sensor` and its newest `row`."""
        encoded = self._details.get(sensor.sensor)
        if encoded is None:
            encoded = self._details[sensor.sensor] = b"".join(
                (self.birth(sensor)[:-1], b',"latest":', latest_json(sensor.kind, row), b"}"))
        return encoded

    def page(self, sensors: list[Sensor], *, total: int, limit: int, offset: int) -> bytes:
        """Return the JSON of `SensorPage` holding `sensors`."""
        return _page((self.birth(sensor) for sensor in sensors), total, limit, offset)

    def districts(self, counts: Mapping[str, Mapping[str, int]]) -> bytes:
        """Return the JSON of `DistrictList` for `counts` (kept until a birth changes)."""
        if self._districts is None:
            answer = DistrictList(items=[
                DistrictInfo(district=name, sensors=dict(sorted(kinds.items())))
                for name, kinds in sorted(counts.items())])
            self._districts = answer.__pydantic_serializer__.to_json(answer)
        return self._districts

    def summary(self, district: str, *, version: int, now_ms: int) -> bytes | None:
        """Return the kept summary of `district`, unless it changed or is too old."""
        kept = self._summaries.get(district)
        if kept is None or kept[0] != version or now_ms - kept[1] > SUMMARY_MAX_AGE_MS:
            return None
        return kept[2]

    def keep_summary(self, district: str, encoded: bytes, *, version: int, at_ms: int) -> None:
        """Keep the summary of `district` at `at_ms`, made at `version` of the district."""
        self._summaries[district] = (version, at_ms, encoded)
