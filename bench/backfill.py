"""Backfill: readings/s of history written to a JSON-lines file and published to mosquitto.

Prints one JSON document. For each case (the default city at scale 50 and at
scale 1, to a file; scale 50 to a real mosquitto at QoS 1, window 1000) the same
run goes through `simulate` (history sent in chunks) and through the
tick-by-tick loop `simulate` ran before (one `send_many` and one event-loop turn
per simulated second), alternating, ROUNDS times each; the medians are printed
with their ratio, per wall second and per CPU second of this process (the
machine is shared: CPU seconds move less with other load than wall seconds do).
`generate_only` steps the same fleet with no sink at all: the ceiling any sink
can reach. Every path counts readings as `simulate` does: a file's clean records
(docs/simulator.md) and the ground truth are messages, not readings. Starts its
own mosquitto on a free port and takes a few minutes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops import stack
from simulator.run import BIRTH_BATCH, prepare, simulate, start_time
from simulator.sinks import JsonlSink, MqttSink, Sink
from urbanpulse.settings import SimSettings

ROUNDS = 2
CASES = (("file_scale_50", 50.0, 900, False), ("file_scale_1", 1.0, 3 * 3600, False),
         ("mqtt_scale_50", 50.0, 300, True))
"""Name, city scale, simulated seconds and whether to publish to mosquitto."""


async def tick_by_tick(settings: SimSettings, sink: Sink) -> int:
    """Send births, then each simulated second's messages on its own, as `simulate` did before."""
    fleet = prepare(settings)
    start = start_time(settings.sim_start)
    births = fleet.births(start * 1000)
    while batch := list(itertools.islice(births, BIRTH_BATCH)):
        await sink.send_many(batch, retain=True)
    readings = 0
    assert settings.sim_duration_s is not None
    for _, messages in fleet.ticks(start, start + settings.sim_duration_s):
        await asyncio.sleep(0)
        await sink.send_many(messages, retain=False)
        readings += len(messages)
    return readings - fleet.truths - fleet.cleans  # as `simulate` counts them


async def chunked(settings: SimSettings, sink: Sink) -> int:
    """Run `simulate`, which backfills in chunks; return the readings sent."""
    return (await simulate(settings, sink)).readings


def generate_only(settings: SimSettings) -> float:
    """Return readings per CPU second of stepping the fleet with no sink (models, encoding)."""
    fleet = prepare(settings)
    start = start_time(settings.sim_start)
    assert settings.sim_duration_s is not None
    began, messages_out = time.process_time(), 0
    for _, messages in fleet.ticks(start, start + settings.sim_duration_s):
        messages_out += len(messages)
    return (messages_out - fleet.truths - fleet.cleans) / (time.process_time() - began)


Runner = Callable[[SimSettings, Sink], Coroutine[Any, Any, int]]
"""A way of sending a run to a sink, returning the readings sent."""


async def timed(path: Runner, settings: SimSettings,
                folder: Path) -> tuple[int, float, float]:
    """Run one path to its sink; return readings, wall and CPU seconds (sink opened, closed)."""
    began, cpu = time.perf_counter(), time.process_time()
    sink: Sink = (JsonlSink(folder / "out.jsonl") if settings.sim_output
                  else await MqttSink.connect(settings))
    readings = await path(settings, sink)
    await sink.close()
    return readings, time.perf_counter() - began, time.process_time() - cpu


def case(settings: SimSettings, folder: Path) -> dict[str, Any]:
    """Alternate the two paths ROUNDS times; return their median rates and the ratio."""
    paths = {"old_tick_by_tick": tick_by_tick, "new_chunked": chunked}
    wall: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    readings = 0
    for _ in range(ROUNDS):
        for name, path in paths.items():
            readings, wall_s, cpu_s = asyncio.run(timed(path, settings, folder))
            wall[name].append(readings / wall_s)
            cpu[name].append(readings / cpu_s)
    result: dict[str, Any] = {"sensors": len(prepare(settings).specs),
                              "simulated_s": settings.sim_duration_s, "readings": readings}
    for unit, rates in (("s", wall), ("cpu_s", cpu)):
        old, new = (statistics.median(rates[name]) for name in paths)
        result |= {f"old_tick_by_tick_readings_per_{unit}": round(old),
                   f"new_chunked_readings_per_{unit}": round(new),
                   f"new_to_old_per_{unit}": round(new / old, 2)}
    return result | {"generate_only_readings_per_cpu_s": round(generate_only(settings)),
                     "runs_readings_per_s": {name: [round(rate) for rate in values]
                                             for name, values in wall.items()}}


def main() -> None:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = stack.free_port()
        broker = stack.start_mosquitto(folder / "mosquitto", port)
        try:
            for name, scale, seconds, mqtt in CASES:
                # A start in the past, ending an hour ago: all of it is history.
                start = datetime.fromtimestamp(int(time.time()) - seconds - 3600, UTC)
                settings = SimSettings(
                    sim_seed=1, sim_scale=scale, sim_start=start, sim_duration_s=seconds,
                    sim_speed=0, sim_output=None if mqtt else "jsonl:out.jsonl",
                    mqtt_host="127.0.0.1", mqtt_port=port, sim_max_inflight=1000,
                    sim_client_id="bench-backfill")
                results[name] = case(settings, folder)
        finally:
            broker.stop()
    print(json.dumps({"benchmark": "backfill", "rounds": ROUNDS,
                      "load_average_1m_at_end": round(os.getloadavg()[0], 2), **results},
                     indent=2))


if __name__ == "__main__":
    main()
