"""The birth checks the ingester and the api share (`urbanpulse.births`)."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.decode import REASONS, Decoder, Rejected
from urbanpulse.births import (
    MAX_AGE_S,
    MAX_FUTURE_S,
    MAX_PAYLOAD_BYTES,
    RESERVED_ATTRIBUTES,
    Limits,
    Refusal,
    check_birth,
)
from urbanpulse.kinds import KINDS
from urbanpulse.messages import SensorBirth, encoder
from urbanpulse.settings import IngestSettings
from urbanpulse.topics import Channel, sensor_topic

NOW = 1_763_769_300_000
KIND = sorted(KINDS)[0]
SENSOR = f"{KIND}-pudong-0001"
TOPIC = sensor_topic(Channel.SENSORS, "pudong", KIND, SENSOR, root="city")


def payload(**changes: Any) -> bytes:
    fields: dict[str, Any] = {"v": 1, "sensor": SENSOR, "kind": KIND, "district": "pudong",
                              "site": "Lujiazui", "lat": 31.23, "lon": 121.5, "zone": "2",
                              "interval_s": 60, "ts": NOW, "attributes": {"height_m": 12.5}}
    fields.update(changes)
    return encoder.encode(fields)


BAD: list[tuple[str, bytes, str]] = [
    (TOPIC, b"x" * (MAX_PAYLOAD_BYTES + 1), "oversize"),
    ("city/sensors/pudong", payload(), "bad-topic"),
    (TOPIC, b"{not json", "malformed-json"),
    (TOPIC, payload(lat="north"), "schema"),
    (TOPIC, payload(sensor="other"), "topic-mismatch"),
    (TOPIC, payload(attributes={"district": "x"}), "reserved-attribute"),
    (TOPIC, payload(attributes={"_hidden": 1}), "reserved-attribute"),
    (TOPIC, payload(attributes={"a" * 65: 1}), "schema"),
    (TOPIC, payload(ts=NOW + MAX_FUTURE_S * 1000 + 1), "future-timestamp"),
    (TOPIC, payload(ts=NOW - MAX_AGE_S * 1000 - 1), "stale-timestamp"),
]


def test_a_good_birth_is_taken_up_to_the_edges_of_the_window() -> None:
    for ts in (NOW, NOW + MAX_FUTURE_S * 1000, NOW - MAX_AGE_S * 1000):
        birth = check_birth(TOPIC, payload(ts=ts), root="city", now_ms=NOW)
        assert isinstance(birth, SensorBirth)
        assert (birth.sensor, birth.ts) == (SENSOR, ts)


@pytest.mark.parametrize(("topic", "body", "reason"), BAD)
def test_a_bad_birth_is_refused_as_the_ingester_rejects_it(topic: str, body: bytes,
                                                          reason: str) -> None:
    refusal = check_birth(topic, body, root="city", now_ms=NOW)
    assert isinstance(refusal, Refusal)
    assert refusal.reason == reason
    assert reason in REASONS
    decoder = Decoder(root="city", max_payload_bytes=MAX_PAYLOAD_BYTES,
                      max_future_s=MAX_FUTURE_S, max_age_s=MAX_AGE_S)
    assert decoder.birth(topic, body, NOW) == Rejected(refusal.reason, refusal.detail)


def test_an_unregistered_kind_is_refused() -> None:
    kind = "no-such-kind"
    topic = sensor_topic(Channel.SENSORS, "pudong", kind, SENSOR, root="city")
    refusal = check_birth(topic, payload(kind=kind), root="city", now_ms=NOW)
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "unknown-kind"


def test_time_is_not_checked_without_a_clock_and_limits_may_be_narrowed() -> None:
    assert isinstance(check_birth(TOPIC, payload(ts=0), root="city", now_ms=None), SensorBirth)
    narrow = Limits(max_payload_bytes=100, max_future_ms=0, max_age_ms=1)
    refusal = check_birth(TOPIC, payload(), root="city", now_ms=NOW, limits=narrow)
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "oversize"


def test_the_defaults_are_the_ingesters_and_the_reserved_names_are_the_sensors_points() -> None:
    fields = IngestSettings.model_fields
    assert fields["ingest_max_payload_bytes"].default == MAX_PAYLOAD_BYTES
    assert fields["ingest_max_future_s"].default == MAX_FUTURE_S
    assert fields["ingest_max_age_s"].default == MAX_AGE_S
    assert Limits() == Limits(MAX_PAYLOAD_BYTES, MAX_FUTURE_S * 1000, MAX_AGE_S * 1000)
    assert {"sensor", "kind", "district", "lat", "lon", "site", "zone", "interval_s",
            "time"} == RESERVED_ATTRIBUTES
