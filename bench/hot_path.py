"""Per-reading cost of the ingester's hot path: decode and validate, then encode a point.

Prints one JSON document: microseconds per reading for each step, measured on
readings of every kind, best of several rounds (the machine is shared).
"""

from __future__ import annotations

import json
import time

from ingest.decode import Decoder
from ingest.points import PointEncoder
from urbanpulse.catalog import KINDS
from urbanpulse.messages import Reading, encoder
from urbanpulse.topics import reading_topic

ROUNDS = 7
SENSORS = 10_000


def _messages(now_ms: int) -> list[tuple[str, bytes]]:
    messages = []
    kinds = sorted(KINDS.values(), key=lambda kind: kind.name)
    for n in range(SENSORS):
        kind = kinds[n % len(kinds)]
        sensor = f"{kind.name}-pudong-{n:05d}"
        values = {m.name: round(m.low + (m.high - m.low) * ((n * 7919) % 1000) / 4000, 3)
                  for m in kind.metrics.values()}
        reading = Reading(v=1, sensor=sensor, kind=kind.name, district="pudong", ts=now_ms,
                          seq=n, values=values)
        messages.append((reading_topic("pudong", kind.name, sensor), encoder.encode(reading)))
    return messages


def _best(step: object, rounds: int = ROUNDS) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        step()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best * 1e6 / SENSORS


def main() -> None:
    now = int(time.time() * 1000)
    messages = _messages(now)
    decoder = Decoder(root="city", max_payload_bytes=16_384, max_future_s=300, max_age_s=86_400)
    readings = [decoder.reading(topic, payload, now) for topic, payload in messages]
    assert all(isinstance(r, Reading) for r in readings)
    points = PointEncoder()

    decode_us = _best(lambda: [decoder.reading(t, p, now) for t, p in messages])
    encode_us = _best(lambda: [points.reading(r) for r in readings])  # type: ignore[arg-type]
    print(json.dumps({
        "benchmark": "ingest_hot_path",
        "readings": SENSORS,
        "mean_payload_bytes": round(sum(len(p) for _, p in messages) / SENSORS, 1),
        "decode_validate_us_per_reading": round(decode_us, 3),
        "line_protocol_us_per_reading": round(encode_us, 3),
        "total_us_per_reading": round(decode_us + encode_us, 3),
    }, indent=2))


if __name__ == "__main__":
    main()
