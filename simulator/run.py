"""Run the simulator: births, then readings paced against the monotonic clock.

`simulate` is the loop (any sink, a stop event); `main` is the process entry
point behind `urbanpulse sim`: it builds the sink from the settings, stops
cleanly on SIGINT or SIGTERM after flushing, and prints a summary line.

Ticks that need no waiting (a past start's history, every tick at speed 0 that
is not ahead of the clock) are backfilled: gathered into chunks of at least
BACKFILL_CHUNK messages and handed to the sink a chunk at a time, so the sink's
per-call cost and a turn of the event loop are paid per chunk instead of per
simulated second. The messages and their order are those of the tick-by-tick path.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from simulator.city import SensorSpec, build_city
from simulator.drivers import Drivers
from simulator.errors import SimulatorError
from simulator.fleet import Fleet
from simulator.profile import load_profile
from simulator.scenarios import anchored, check_filters, load_scenario
from simulator.sinks import Message, Sink, open_sink
from simulator.weather import Weather
from simulator.workdays import load_calendar
from urbanpulse.errors import ConfigError
from urbanpulse.settings import SimSettings

BIRTH_BATCH = 1000
"""Births handed to the sink at once (all of them at once would hold every birth in memory)."""
BACKFILL_CHUNK = 10_000
"""Backfilled messages gathered before they go to the sink, and between two looks at `stop`."""


@dataclass(frozen=True, slots=True)
class SimStats:
    """What a run did."""

    sensors: int
    births: int
    readings: int
    truths: int
    """Ground-truth messages of injected faults and incidents."""
    cleans: int
    """Clean records: readings without sensor error or faults, where they differ (0: not told)."""
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
        cleans = f"{self.cleans} clean records, " if self.cleans else ""
        return (f"urbanpulse sim {ending}: {self.sensors} sensors, {self.births} births, "
                f"{self.readings} readings, {self.truths} truths, {cleans}{self.simulated_s:g} "
                f"simulated s from {began} in {self.wall_s:.2f} s ({rate:,.0f} readings/s)")


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


async def _backfill(sink: Sink, chunk: list[Message]) -> int:
    """Send a chunk of backfilled readings, let signals and the network run; return its length."""
    await sink.send_many(chunk, retain=False)
    await asyncio.sleep(0)
    return len(chunk)


def prepare(settings: SimSettings, city: Sequence[SensorSpec] | None = None, *,
            clean_signal: bool | None = None, scenario_from: datetime | None = None) -> Fleet:
    """Read the city profile, its calendar and the scenario, and build the fleet.

    Everything a run reads from files happens here, so `main` calls it before
    connecting: a bad profile or scenario is reported as such, broker or not.
    `clean_signal` says whether the run tells the sensors' clean signal; None
    means when it writes a file (`--output`), not when it publishes (it would
    add a message for every reading that differs: docs/simulator.md).
    `scenario_from` is the moment the scenario's offsets count from when it is not
    the run's start (a run with a warm-up: `urbanpulse sim --warm-up`).

    Raises:
        ConfigError: The profile, its calendar or the scenario is unknown or malformed.
    """
    profile = load_profile(settings.sim_city)
    specs = city if city is not None else build_city(
        profile, scale=settings.sim_scale, sensors=settings.sim_sensors, seed=settings.sim_seed,
        cadence=settings.sim_cadence)
    drivers = Drivers(calendar=load_calendar(profile.calendar),
                      weather=Weather(settings.sim_seed, profile.climate),
                      pollution=profile.pollution, climate=profile.climate)
    incidents = load_scenario(settings.sim_scenario) if settings.sim_scenario else []
    if scenario_from is not None:
        incidents = anchored(incidents, scenario_from)
    check_filters(incidents,
                  {d.name for d in profile.districts} | {spec.district for spec in specs},
                  {s.name for d in profile.districts for s in d.sites}
                  | {spec.site for spec in specs})
    return Fleet(specs, seed=settings.sim_seed, root=settings.topic_root, drivers=drivers,
                 fault_rate=settings.sim_fault_rate, incidents=incidents,
                 clean_signal=settings.sim_output is not None if clean_signal is None
                 else clean_signal)


async def simulate(settings: SimSettings, sink: Sink, *, stop: asyncio.Event | None = None,
                   city: Sequence[SensorSpec] | None = None,
                   plan: Fleet | None = None) -> SimStats:
    """Publish the city's births, then its readings, until the duration ends or `stop` is set.

    Args:
        settings: Seed, speed, scale, city, scenario, faults, duration, start and topic root.
        sink: Where messages go; the caller closes it.
        stop: Set it to end the run after the current tick.
        city: The sensors; by default the settings' city profile laid out by `build_city`.
        plan: The fleet `prepare` built; by default `prepare(settings, city)`.

    Returns:
        Counts and timings of the run.
    """
    stop = stop if stop is not None else asyncio.Event()
    fleet = plan if plan is not None else prepare(settings, city)
    start = start_time(settings.sim_start)
    duration, speed = settings.sim_duration_s, settings.sim_speed
    # Backfill: history before the moment the run begins is sent unpaced, then pacing starts.
    history = max(0.0, time.time() - start) if settings.sim_backfill else 0.0
    never_ahead = settings.sim_output is None
    began = time.monotonic()
    births = readings = 0
    pending_births = fleet.births(start * 1000)
    while batch := list(itertools.islice(pending_births, BIRTH_BATCH)):
        await sink.send_many(batch, retain=True)
        births += len(batch)
    paced_from = time.monotonic()
    reached = chunk_end = start
    chunk: list[Message] = []
    for t, messages in fleet.ticks(start, None if duration is None else start + duration):
        waits = never_ahead and t > time.time()
        if (speed == 0 or t - start < history) and not waits:
            chunk += messages  # backfill: nothing to wait for
            chunk_end = t
            if len(chunk) < BACKFILL_CHUNK:
                continue
        if chunk:
            readings += await _backfill(sink, chunk)
            chunk, reached = [], chunk_end
            if stop.is_set():
                break
            if chunk_end == t:
                continue
        if speed > 0:
            delay = paced_from + max(0.0, t - start - history) / speed - time.monotonic()
            if delay > 0:
                await _pause(stop, delay)
        if waits:
            # A broker's consumers refuse readings from the future (the ingester allows
            # a few minutes of clock skew): an accelerated run catches up with now and
            # then goes on in real time. Files take the future as fast as asked.
            await _pause(stop, t - time.time())
        if stop.is_set():
            break
        await sink.send_many(messages, retain=False)
        readings += len(messages)
        reached = t
    if chunk:  # the run ended within a backfilled stretch
        readings += await _backfill(sink, chunk)
        reached = chunk_end
    if duration is not None and speed > 0:
        await _pause(stop, paced_from + max(0.0, duration - history) / speed - time.monotonic())
    stopped = stop.is_set()
    simulated = duration if duration is not None and not stopped else float(reached - start)
    return SimStats(sensors=len(fleet.specs), births=births,
                    readings=readings - fleet.truths - fleet.cleans, truths=fleet.truths,
                    cleans=fleet.cleans, start=start,
                    simulated_s=simulated, wall_s=time.monotonic() - began, stopped=stopped)


async def _serve(settings: SimSettings, clean_signal: bool | None,
                 scenario_from: datetime | None = None) -> SimStats:
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
        # Bad files are reported before any connection is tried.
        plan = prepare(settings, clean_signal=clean_signal, scenario_from=scenario_from)
        sink = await open_sink(settings, stop=stop)
        try:
            stats = await simulate(settings, sink, stop=stop, plan=plan)
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


def main(settings: SimSettings, *, clean_signal: bool | None = None,
         scenario_from: datetime | None = None) -> int:
    """Run the simulator as a process; return 0 on success, 1 on a sink error, 2 on bad config.

    `clean_signal` and `scenario_from` are `prepare`'s: None tells the clean signal in
    files only, and counts the scenario's offsets from the run's start.
    """
    try:
        stats = asyncio.run(_serve(settings, clean_signal, scenario_from))
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
