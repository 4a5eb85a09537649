"""The ingester's per-reading shortcuts agree with the general code they stand in for."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.alerts.silence import SilenceWatch
from ingest.derive import derive, derive_encoded
from ingest.edge import _framer, token
from ingest.lag import LagHistogram
from ingest.points import PointEncoder
from urbanpulse.lineprotocol import encode_fields
from urbanpulse.messages import Reading

T0 = 1_795_000_000_000


def _reading(kind: str, values: dict[str, float], ts: int = T0) -> Reading:
    return Reading(v=1, sensor=f"{kind}-pudong-0001", kind=kind, district="pudong", ts=ts,
                   seq=7, values=values)


@given(st.sampled_from([
    ("air", {"pm25": 38.2, "pm10": 61.0, "no2": 44.1, "o3": 92.0}, None),
    ("air", {"pm25": 10.0}, None),  # AQI ≤ 50: no primary pollutant
    ("air", {"pm25": 75.0, "pm10": 150.0}, None),  # two primary pollutants
    ("water", {"ph": 7.1, "tp": 0.25, "temperature": 18.0}, None),
    ("noise", {"laeq": 58.5}, "1"), ("noise", {"laeq": 58.5}, None),
    ("parking", {"occupancy": 0.5}, None),
]), st.integers(min_value=0, max_value=86_400_000))
def test_derived_line_protocol_is_what_the_escaping_encoder_writes(
        case: tuple[str, dict[str, float], str | None], offset_ms: int) -> None:
    kind, values, zone = case
    reading = _reading(kind, values, T0 + offset_ms)
    fields, text = derive_encoded(reading, zone)
    assert fields == derive(reading, zone)
    assert text == (encode_fields(fields) if fields else "")
    encoder = PointEncoder()
    topic = f"city/readings/{reading.district}/{kind}/{reading.sensor}"
    assert encoder.line(topic, reading, text) == encoder.reading(reading, fields)
    assert encoder.line(topic, reading, text) == encoder.reading(reading, fields)  # cached


@settings(deadline=None)  # the reference walks 60,001 buckets: slow on a busy machine
@given(st.lists(st.integers(min_value=-100, max_value=70_000), min_size=1, max_size=200),
       st.floats(min_value=0, max_value=1))
def test_lag_percentile_is_the_bucket_walk(lags: list[int], fraction: float) -> None:
    histogram = LagHistogram()
    histogram.add(T0, [T0 - lag for lag in lags])
    wanted, seen, expected = fraction * len(lags), 0, None
    for bucket in range(60_001):  # every 1 ms bucket, as the definition says
        seen += sum(1 for lag in lags if min(max(lag, 0), 60_000) == bucket)
        if seen >= wanted:
            expected = float(bucket)
            break
    assert histogram.percentile(fraction) == expected


class _Sensor:
    def __init__(self, kind: str, interval_s: float, seen_ms: int) -> None:
        self.kind, self.interval_s, self.seen_ms = kind, interval_s, seen_ms


events = st.lists(st.tuples(st.sampled_from(["read", "birth", "sweep"]),
                            st.integers(min_value=0, max_value=5),
                            st.integers(min_value=0, max_value=400_000),
                            st.sampled_from([10, 60, 120])), max_size=60)


@given(events, st.sampled_from([1.5, 3.0]))
def test_silence_watch_finds_exactly_the_silent_sensors(
        steps: list[tuple[str, int, int, int]], factor: float) -> None:
    watch = SilenceWatch("air", factor)
    sensors: dict[str, _Sensor] = {}
    now = T0
    for action, number, advance_ms, interval_s in steps:
        now += advance_ms
        name = f"air-pudong-{number}"
        if action == "read":
            if name in sensors:
                sensors[name].seen_ms = now
            else:
                sensors[name] = _Sensor("air", 60, now)
                watch.watch(name, sensors[name])
        elif action == "birth":  # a new declared interval, maybe a different kind
            kind = "water" if number == 5 else "air"
            seen = sensors[name].seen_ms if name in sensors else now
            sensors[name] = _Sensor(kind, interval_s, seen)
            watch.watch(name, sensors[name])
        else:
            silent = set(watch.update(now, sensors))
            assert silent == {n for n, s in sensors.items() if s.kind == "air"
                              and now - s.seen_ms > factor * s.interval_s * 1000}


class _Connection:
    """Stands in for gmqtt's MQTTConnection: records what reaches gmqtt's handler."""

    def __init__(self) -> None:
        self.packages: list[tuple[int, bytes]] = []
        self._last_data_in = 0.0

    def put_package(self, package: Any) -> None:
        self.packages.append((package.cmd, package.data))


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _publish(topic: str, payload: bytes, mid: int, *, qos: int = 1, flags: int = 0,
             properties: bytes = b"\x00") -> bytes:
    body = struct.pack("!H", len(topic)) + topic.encode()
    body += (struct.pack("!H", mid) if qos else b"") + properties + payload
    return bytes([0x30 | qos << 1 | flags]) + _length(len(body)) + body


@given(st.data())
def test_framing_splits_any_read_into_the_packets_gmqtt_would(data: st.DataObject) -> None:
    payloads = [b"{}", b"x" * 200, b"y" * 20_000]  # 1-, 2- and 3-byte remaining lengths
    stream = b"".join([
        _publish("city/readings/a/air/s1", payloads[0], 1),
        _publish("city/readings/a/air/s2", payloads[1], 2, flags=0x09),  # DUP and RETAIN
        b"\xd0\x00",  # PINGRESP: gmqtt's
        _publish("city/readings/a/air/s3", payloads[2], 3),
        _publish("city/readings/a/air/s4", b"p", 4, properties=b"\x02\x01\x01"),  # gmqtt's
        _publish("city/readings/a/air/s5", b"q", 0, qos=0),  # gmqtt's
    ])
    cuts = sorted(data.draw(st.sets(st.integers(min_value=1, max_value=len(stream) - 1),
                                    max_size=8)))
    connection = _Connection()
    accepted: list[tuple[str, bytes, int]] = []

    class Handler:
        current_connection = connection

    def accept(topic: str, payload: bytes, delivered: int) -> None:
        assert delivered >> 16 == 7  # the connection's number
        accepted.append((topic, payload, delivered))

    read = _framer(Handler(), connection, lambda data: 0, accept, 7)
    buffer = b""
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        buffer += stream[start:end]  # as gmqtt's read loop does
        buffer = buffer[read(buffer):]
    assert buffer == b""
    assert accepted == [("city/readings/a/air/s1", payloads[0], token(7, 1)),
                        ("city/readings/a/air/s2", payloads[1], token(7, 2)),
                        ("city/readings/a/air/s3", payloads[2], token(7, 3))]
    assert [cmd for cmd, _ in connection.packages] == [0xD0, 0x32, 0x30]
    assert connection.packages[1][1].endswith(b"\x02\x01\x01p")


def test_framing_refuses_a_remaining_length_of_five_bytes() -> None:
    connection = _Connection()

    class Handler:
        current_connection = connection

    read = _framer(Handler(), connection, lambda data: 0, lambda *args: None, 1)
    assert read(b"\x32\xff\xff\xff\xff\x01") == -1


def test_framing_leaves_a_superseded_connection_to_gmqtt() -> None:
    connection, current = _Connection(), _Connection()

    class Handler:
        current_connection = current

    handed: list[bytes] = []

    def gmqtt_framer(data: bytes) -> int:
        handed.append(data)
        return len(data)

    read = _framer(Handler(), connection, gmqtt_framer, lambda *args: None, 1)
    packet = _publish("city/readings/a/air/s1", b"{}", 1)
    assert read(packet) == len(packet)
    assert handed == [packet]
    assert connection.packages == []
