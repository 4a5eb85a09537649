"""Decode turns every kind of bad input into the right rejection reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest.decode import REASONS, Decoder, Rejected
from urbanpulse.messages import Reading, SensorBirth

NOW = 1_763_779_200_000
TOPIC = "city/readings/pudong/air/air-pudong-0007"


def _decoder() -> Decoder:
    return Decoder(root="city", max_payload_bytes=1024, max_future_s=300, max_age_s=3600)


def _reading(**changes: Any) -> dict[str, Any]:
    reading: dict[str, Any] = {"v": 1, "sensor": "air-pudong-0007", "kind": "air",
                               "district": "pudong", "ts": NOW, "seq": 3,
                               "values": {"pm25": 38.2, "no2": 44}}
    reading.update(changes)
    return reading


def test_decode_accepts_a_valid_reading() -> None:
    result = _decoder().reading(TOPIC, json.dumps(_reading()).encode(), NOW)
    assert isinstance(result, Reading)
    assert result.values == {"pm25": 38.2, "no2": 44.0}
    assert (result.sensor, result.seq, result.ts) == ("air-pudong-0007", 3, NOW)


BAD_INPUTS: list[tuple[str, str, bytes]] = [
    ("invalid-json", TOPIC, b'{"v": 1, "sensor": '),
    ("not-utf8", TOPIC, b"\xff\xfe\x00garbage"),
    ("nan", TOPIC, json.dumps(_reading(values={"pm25": float("nan")})).encode()),
    ("infinity", TOPIC, b'{"v":1,"sensor":"air-pudong-0007","kind":"air","district":"pudong",'
     b'"ts":1763779200000,"seq":1,"values":{"pm25":1e999}}'),
    ("wrong-type", TOPIC, json.dumps(_reading(values={"pm25": "high"})).encode()),
    ("bool-value", TOPIC, json.dumps(_reading(values={"pm25": True})).encode()),
    ("missing-field", TOPIC, json.dumps({k: v for k, v in _reading().items()
                                         if k != "seq"}).encode()),
    ("unknown-field", TOPIC, json.dumps(_reading(extra=1)).encode()),
    ("wrong-version", TOPIC, json.dumps(_reading(v=2)).encode()),
    ("negative-seq", TOPIC, json.dumps(_reading(seq=-1)).encode()),
    ("empty-values", TOPIC, json.dumps(_reading(values={})).encode()),
    ("unknown-kind", "city/readings/pudong/radar/air-pudong-0007",
     json.dumps(_reading(kind="radar")).encode()),
    ("unknown-metric", TOPIC, json.dumps(_reading(values={"pm1": 3})).encode()),
    ("out-of-range", TOPIC, json.dumps(_reading(values={"pm25": -5})).encode()),
    ("out-of-range-high", TOPIC, json.dumps(_reading(values={"pm25": 1e6})).encode()),
    ("topic-mismatch", "city/readings/huangpu/air/air-pudong-0007",
     json.dumps(_reading()).encode()),
    ("future", TOPIC, json.dumps(_reading(ts=NOW + 301_000)).encode()),
    ("stale", TOPIC, json.dumps(_reading(ts=NOW - 3_601_000)).encode()),
    ("oversize", TOPIC, json.dumps(_reading(values={"pm25": 1.0}, pad="x" * 2000)).encode()),
    ("bad-topic", "city/readings/pudong/air", json.dumps(_reading()).encode()),
]
EXPECTED = {
    "invalid-json": "malformed-json", "not-utf8": "malformed-json", "nan": "non-finite",
    "infinity": "non-finite", "wrong-type": "schema", "bool-value": "schema",
    "missing-field": "schema", "unknown-field": "schema", "wrong-version": "schema",
    "negative-seq": "schema", "empty-values": "schema", "unknown-kind": "unknown-kind",
    "unknown-metric": "unknown-metric", "out-of-range": "out-of-range",
    "out-of-range-high": "out-of-range", "topic-mismatch": "topic-mismatch",
    "future": "future-timestamp", "stale": "stale-timestamp", "oversize": "oversize",
    "bad-topic": "bad-topic",
}


@pytest.mark.parametrize(("case", "topic", "payload"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_decode_rejects_bad_input_with_its_reason(case: str, topic: str, payload: bytes) -> None:
    result = _decoder().reading(topic, payload, NOW)
    assert isinstance(result, Rejected)
    assert result.reason == EXPECTED[case]
    assert result.reason in REASONS
    assert result.detail.endswith(".")


def test_decode_accepts_the_edges_of_the_window() -> None:
    decoder = _decoder()
    for ts in (NOW + 300_000, NOW - 3_600_000):
        assert isinstance(decoder.reading(TOPIC, json.dumps(_reading(ts=ts)).encode(), NOW),
                          Reading)


def test_decode_birth_and_cleared_birth() -> None:
    birth = {"v": 1, "sensor": "air-pudong-0007", "kind": "air", "district": "pudong",
             "site": "Lujiazui", "lat": 31.23, "lon": 121.5, "zone": "2", "interval_s": 60,
             "ts": NOW, "attributes": {"height_m": 12.5}}
    topic = "city/sensors/pudong/air/air-pudong-0007"
    result = _decoder().birth(topic, json.dumps(birth).encode())
    assert isinstance(result, SensorBirth)
    assert result.attributes == {"height_m": 12.5}
    assert _decoder().birth(topic, b"") is None
    mismatch = _decoder().birth("city/sensors/pudong/air/other", json.dumps(birth).encode())
    assert isinstance(mismatch, Rejected)
    assert mismatch.reason == "topic-mismatch"


@pytest.mark.parametrize("sensor", ["Air-Pudong-7", "air pudong", "-air", "a" * 65])
def test_decode_rejects_names_outside_the_grammar(sensor: str) -> None:
    topic = f"city/readings/pudong/air/{sensor}"
    result = _decoder().reading(topic, json.dumps(_reading(sensor=sensor)).encode(), NOW)
    assert isinstance(result, Rejected)
    assert result.reason == "bad-topic"
    assert result.detail.startswith(f"Invalid sensor id {sensor!r}")


def test_decode_rejects_a_district_outside_the_grammar() -> None:
    topic = "city/readings/Pudong/air/air-pudong-0007"
    result = _decoder().reading(topic, json.dumps(_reading(district="Pudong")).encode(), NOW)
    assert isinstance(result, Rejected)
    assert result.reason == "bad-topic"
    assert result.detail.startswith("Invalid district 'Pudong'")
