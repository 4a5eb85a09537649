"""Decode turns every kind of bad input into the right rejection reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest.decode import REASONS, Decoder, Rejected
from urbanpulse.births import RESERVED_ATTRIBUTES
from urbanpulse.kinds import KINDS
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


BIRTH_TOPIC = "city/sensors/pudong/air/air-pudong-0007"


def _birth(**changes: Any) -> bytes:
    birth: dict[str, Any] = {"v": 1, "sensor": "air-pudong-0007", "kind": "air",
                             "district": "pudong", "site": "Lujiazui", "lat": 31.23,
                             "lon": 121.5, "zone": "2", "interval_s": 60, "ts": NOW,
                             "attributes": {"height_m": 12.5}}
    birth.update(changes)
    return json.dumps(birth).encode()


@pytest.mark.parametrize("name", ["sensor", "kind", "district", "time", "lat", "lon", "site",
                                  "zone", "interval_s", "_field", "_measurement"])
def test_decode_rejects_a_birth_attribute_named_like_a_tag_or_core_field(name: str) -> None:
    result = _decoder().birth(BIRTH_TOPIC, _birth(attributes={"capacity": 3, name: "x"}), NOW)
    assert isinstance(result, Rejected)
    assert result.reason == "reserved-attribute"
    assert result.reason in REASONS
    assert result.detail.startswith(f"Attribute {name!r} is reserved")


@pytest.mark.parametrize(("attributes", "expected"), [
    ({"": 1}, "Attribute name ''"),
    ({"a" * 65: 1}, "Attribute name 'aaaa"),
    ({"tab\there": 1}, "Attribute name 'tab\\there'"),
    ({"nul\x00": 1}, "Attribute name 'nul\\x00'"),
    ({f"a{i}": i for i in range(65)}, "Payload does not match the schema"),
    ({"note": "x" * 257}, "Payload does not match the schema"),
])
def test_decode_rejects_birth_attributes_influxdb_cannot_carry_cleanly(
        attributes: dict[str, Any], expected: str) -> None:
    result = _decoder().birth(BIRTH_TOPIC, _birth(attributes=attributes), NOW)
    assert isinstance(result, Rejected)
    assert result.reason == "schema"
    assert result.detail.startswith(expected)


@pytest.mark.parametrize("changes", [{"site": "s" * 257}, {"zone": "z" * 65}])
def test_decode_bounds_a_births_free_text(changes: dict[str, str]) -> None:
    result = _decoder().birth(BIRTH_TOPIC, _birth(**changes), NOW)
    assert isinstance(result, Rejected)
    assert result.reason == "schema"


def test_decode_accepts_the_largest_birth_attributes() -> None:
    attributes = {f"{'a' * 62}{i:02}": "x" * 256 for i in range(64)}
    decoder = Decoder(root="city", max_payload_bytes=65_536, max_future_s=300, max_age_s=3600)
    assert isinstance(decoder.birth(BIRTH_TOPIC, _birth(attributes=attributes), NOW), SensorBirth)


@pytest.mark.parametrize(("ts", "reason"), [
    (NOW + 301_000, "future-timestamp"), (4_102_444_800_000, "future-timestamp"),
    (NOW - 3_601_000, "stale-timestamp"), (0, "stale-timestamp")])
def test_decode_gives_births_the_readings_time_window(ts: int, reason: str) -> None:
    result = _decoder().birth(BIRTH_TOPIC, _birth(ts=ts), NOW)
    assert isinstance(result, Rejected)
    assert result.reason == reason
    for edge in (NOW + 300_000, NOW - 3_600_000):
        assert isinstance(_decoder().birth(BIRTH_TOPIC, _birth(ts=edge), NOW), SensorBirth)


def test_decode_checks_no_birth_time_without_a_clock() -> None:
    """A replay of a recorded run (ops.score_run) takes births as they were stamped."""
    assert isinstance(_decoder().birth(BIRTH_TOPIC, _birth(ts=0)), SensorBirth)


@pytest.mark.parametrize("name", ["seq", "sensor", "district", "time", "aqi"])
def test_a_reading_cannot_name_a_metric_like_its_tags_seq_or_a_derived_field(name: str) -> None:
    result = _decoder().reading(TOPIC, json.dumps(_reading(values={name: 1.0})).encode(), NOW)
    assert isinstance(result, Rejected)
    assert result.reason == "unknown-metric"


@pytest.mark.parametrize("kind", list(KINDS))
def test_no_kind_names_a_field_like_a_tag_or_a_reserved_attribute(kind: str) -> None:
    """The registry's own names cannot collide: readings' tags and `seq`, births' names."""
    spec = KINDS[kind]
    reading_fields = [*spec.metrics, *spec.derived]
    assert not {"seq", "sensor", "district", "time"} & set(reading_fields)
    assert len(set(reading_fields)) == len(reading_fields)
    assert not RESERVED_ATTRIBUTES & set(spec.attributes)
    assert not any(name.startswith("_") for name in spec.attributes)
