"""The contract every sensor kind passes, parametrised over the catalog registry.

A reading with every metric of the kind encodes, decodes and validates, maps
to line protocol, reaches a real InfluxDB and reads back unchanged; values
just outside the physical range are refused.
"""

from __future__ import annotations

import time

import httpx
import pytest

from ingest.decode import Decoder, Rejected
from ingest.points import PointEncoder
from tests.conftest import influx_rows
from urbanpulse import stack
from urbanpulse.kinds import KINDS, SensorKind
from urbanpulse.messages import Reading, encoder
from urbanpulse.topics import reading_topic

KIND_NAMES = sorted(KINDS)


def _decoder() -> Decoder:
    return Decoder(root="city", max_payload_bytes=16_384, max_future_s=300, max_age_s=86_400)


def _reading(kind: SensorKind, values: dict[str, float], ts: int) -> tuple[str, bytes]:
    sensor = f"{kind.name}-pudong-0001"
    reading = Reading(v=1, sensor=sensor, kind=kind.name, district="pudong", ts=ts, seq=7,
                      values=values)
    return reading_topic("pudong", kind.name, sensor), encoder.encode(reading)


def test_catalog_has_the_five_kinds() -> None:
    assert KIND_NAMES == ["air", "energy", "noise", "parking", "water"]


@pytest.mark.parametrize("name", KIND_NAMES)
def test_kind_declares_units_and_ranges(name: str) -> None:
    kind = KINDS[name]
    assert kind.interval_s > 0
    for metric in kind.metrics.values():
        assert metric.unit
        assert metric.low < metric.high
        assert metric.contains(metric.low)
        assert not metric.contains(float("nan"))


@pytest.mark.parametrize("name", KIND_NAMES)
def test_kind_reading_reaches_influxdb_unchanged(name: str, influxd: stack.Server,
                                                 influx_db: str) -> None:
    kind = KINDS[name]
    now = int(time.time() * 1000)
    values = {m.name: round((m.low + m.high) / 3, 3) for m in kind.metrics.values()}
    topic, payload = _reading(kind, values, now)
    decoded = _decoder().reading(topic, payload, now)
    assert isinstance(decoded, Reading)
    line = PointEncoder().reading(decoded)
    response = httpx.post(f"{influxd.url}/write", params={"db": influx_db, "precision": "ms"},
                          content=line.encode())
    assert response.status_code == 204, response.text
    rows = influx_rows(influxd.url, influx_db, f'SELECT * FROM "{name}"')
    assert len(rows) == 1
    row = rows[0]
    assert (row["sensor"], row["district"], row["seq"], row["time"]) == (
        f"{name}-pudong-0001", "pudong", 7, now)
    assert {metric: float(row[metric]) for metric in values} == values


@pytest.mark.parametrize("name", KIND_NAMES)
def test_kind_refuses_values_outside_its_physical_range(name: str) -> None:
    kind = KINDS[name]
    now = int(time.time() * 1000)
    for metric in kind.metrics.values():
        for value in (metric.low - 1, metric.high + 1):
            topic, payload = _reading(kind, {metric.name: value}, now)
            result = _decoder().reading(topic, payload, now)
            assert isinstance(result, Rejected)
            assert result.reason == "out-of-range"
