"""Run the simulator: births, then readings paced against the monotonic clock.

`simulate` is the loop (any sink, a stop event); `main` is the process entry
point behind `urbanpulse sim`: it builds the sink from the settings, stops
cleanly on SIGINT or SIGTERM after flushing, and prints a summary line.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from simulator.city import SensorSpec, default_city
from simulator.errors import SimulatorError
from simulator.fleet import Fleet
from simulator.sinks import Sink, open_sink
from urbanpulse.errors import ConfigError
from urbanpulse.settings import SimSettings


@dataclass(frozen=True, slots=True)
class SimStats:
    """What a run did."""

    sensors: int
    births: int
    readings: int
    start: int
    """Simulated start, epoch seconds."""
    simulated_s: float
    """Simulated seconds covered."""
    wall_s: float
    """Real seconds the run took."""
    stopped: bool
    """Whether a stop request ended the run before its duration."""

    def summary(self) -> str:
        """Return a one-line human summary."""
        began = datetime.fromtimestamp(self.start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rate = self.readings / self.wall_s if self.wall_s > 0 else 0.0
        ending = "stopped" if self.stopped else "done"
        return (f"urbanpulse sim {ending}: {self.sensors} sensors, {self.births} births, "
                f"{self.readings} readings, {self.simulated_s:g} simulated s from {began} "
                f"in {self.wall_s:.2f} s ({rate:,.0f} readings/s)")


def start_time(moment: datetime | None) -> int:
    """Return the simulated start in whole epoch seconds: `moment` (naive means UTC) or now."""
    if moment is None:
        moment = datetime.now(UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


async def _pause(stop: asyncio.Event, delay: float) -> None:
    """Sleep `delay` seconds, or less when `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)


async def simulate(settings: SimSettings, sink: Sink, *, stop: asyncio.Event | None = None,
                   city: Sequence[SensorSpec] | None = None) -> SimStats:
    """Publish the city's births, then its readings, until the duration ends or `stop` is set.

    Args:
        settings: Seed, speed, scale, duration, start and topic root of the run.
        sink: Where messages go; the caller closes it.
        stop: Set it to end the run after the current tick.
        city: The sensors; by default `default_city` of the settings.

    Returns:
        Counts and timings of the run.
    """
    stop = stop if stop is not None else asyncio.Event()
    specs = city if city is not None else default_city(
        scale=settings.sim_scale, sensors=settings.sim_sensors, seed=settings.sim_seed)
    fleet = Fleet(specs, seed=settings.sim_seed, root=settings.topic_root)
    start = start_time(settings.sim_start)
    duration, speed = settings.sim_duration_s, settings.sim_speed
    began = time.monotonic()
    births = readings = 0
    for topic, payload in fleet.births(start * 1000):
        await sink.send(topic, payload, retain=True)
        births += 1
    paced_from = time.monotonic()
    reached = start
    for t, messages in fleet.ticks(start, None if duration is None else start + duration):
        if speed > 0:
            delay = paced_from + (t - start) / speed - time.monotonic()
            if delay > 0:
                await _pause(stop, delay)
        else:
            await asyncio.sleep(0)  # let signal handlers and the network run
        if stop.is_set():
            break
        for topic, payload in messages:
            await sink.send(topic, payload, retain=False)
        readings += len(messages)
        reached = t
    if duration is not None and speed > 0:
        await _pause(stop, paced_from + duration / speed - time.monotonic())
    stopped = stop.is_set()
    simulated = duration if duration is not None and not stopped else float(reached - start)
    return SimStats(sensors=len(fleet.specs), births=births, readings=readings, start=start,
                    simulated_s=simulated, wall_s=time.monotonic() - began, stopped=stopped)


async def _serve(settings: SimSettings) -> SimStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal() -> None:
        if stop.is_set() and task is not None:
            task.cancel()  # a second signal abandons the flush
        stop.set()

    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, on_signal)
    try:
        sink = await open_sink(settings)
        try:
            stats = await simulate(settings, sink, stop=stop)
        except asyncio.CancelledError:
            raise  # a second signal: leave without flushing
        except BaseException:
            await sink.close()
            raise
        await sink.close()
        return stats
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def main(settings: SimSettings) -> int:
    """Run the simulator as a process; return 0 on success, 1 on a sink error, 2 on bad config."""
    try:
        stats = asyncio.run(_serve(settings))
    except ConfigError as exc:
        print(f"urbanpulse sim: {exc}", file=sys.stderr)
        return 2
    except SimulatorError as exc:
        print(f"urbanpulse sim: {exc}", file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        print("urbanpulse sim: interrupted twice; unflushed messages were dropped.",
              file=sys.stderr)
        return 130
    print(stats.summary(), file=sys.stderr)
    return 0
