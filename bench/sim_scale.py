"""Simulator at scale: 100,000 sensors reporting every 2 s (50,000 readings/s wanted).

Prints one JSON document: readings/s generated (models plus encoding, no I/O),
readings/s published at QoS 1 through `MqttSink` to a local mosquitto, the
same payloads published by `mosquitto_pub -l -q 1` in the same run as the
ceiling, the ratio of the two, CPU µs per reading for both paths (and the
broker's, since on a shared machine the broker's share of a core often sets
the pace), and RSS per 1,000 sensors (and its growth while running, to show
memory stays flat).
Starts its own mosquitto on a free port and stops within about two minutes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from ops import stack
from simulator.city import default_city
from simulator.fleet import Fleet
from simulator.sinks import MqttSink
from urbanpulse.settings import SimSettings

SENSORS = 100_000
INTERVAL_S = 2
START = 1_793_577_600  # 2026-11-02 00:00 UTC
GENERATE_S = 20
"""Simulated seconds generated without I/O."""
FLAT_CHECK_S = 60
"""Simulated seconds generated after the first measurement, to show memory stays flat."""
PUBLISH_S = 4
"""Simulated seconds published through MQTT (about 200,000 messages)."""


def rss_mb() -> float:
    """Return this process's resident set size in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def generate(fleet: Fleet, start: int, seconds: int) -> tuple[int, float, float]:
    """Run the fleet unpaced without I/O; return readings, wall s and CPU s."""
    wall, cpu = time.perf_counter(), time.process_time()
    readings = 0
    for _, messages in fleet.ticks(start, start + seconds):
        readings += len(messages)
    return readings, time.perf_counter() - wall, time.process_time() - cpu


async def publish(fleet: Fleet, settings: SimSettings, start: int,
                  payloads: list[bytes]) -> tuple[int, float, float]:
    """Publish `PUBLISH_S` simulated seconds at QoS 1, keeping the payloads sent.

    Returns:
        Messages, wall seconds and CPU seconds (the payload list costs a little CPU).
    """
    sink = await MqttSink.connect(settings)
    wall, cpu = time.perf_counter(), time.process_time()
    keep = payloads.extend
    for _, messages in fleet.ticks(start, start + PUBLISH_S):
        await sink.send_many(messages, retain=False)
        keep(payload for _, payload in messages)
    await sink.close()
    return len(payloads), time.perf_counter() - wall, time.process_time() - cpu


def ceiling(port: int, payloads: list[bytes], folder: Path) -> tuple[int, float, float]:
    """Publish the payloads with `mosquitto_pub -l -q 1`; return messages, wall s and its CPU s."""
    lines = folder / "payloads.txt"
    lines.write_bytes(b"\n".join(payloads) + b"\n")
    binary = stack.find_binary("mosquitto_pub", "mosquitto-clients")
    wall, cpu = time.perf_counter(), children_cpu_s()
    with lines.open("rb") as stdin:
        subprocess.run([binary, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-l",
                        "-t", "bench/ceiling"], stdin=stdin, check=True, timeout=120)
    return len(payloads), time.perf_counter() - wall, children_cpu_s() - cpu


def children_cpu_s() -> float:
    """Return the CPU seconds of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int) -> float:
    """Return the CPU seconds process `pid` has used (the broker, while it runs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    base_rss = rss_mb()
    specs = [dataclasses.replace(spec, interval_s=INTERVAL_S,
                                 poll_s=INTERVAL_S if spec.poll_s else 0)
             for spec in default_city(sensors=SENSORS, seed=1)]
    fleet = Fleet(specs, seed=1)
    built_rss = rss_mb()
    generated, gen_wall, gen_cpu = generate(fleet, START, GENERATE_S)
    ran_rss = rss_mb()
    generate(fleet, START + GENERATE_S, FLAT_CHECK_S)  # memory must not keep growing
    later_rss = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = stack.free_port()
        broker = stack.start_mosquitto(folder / "mosquitto", port)
        try:
            settings = SimSettings(mqtt_host="127.0.0.1", mqtt_port=port,
                                   sim_client_id="bench-sim", sim_max_inflight=1000)
            payloads: list[bytes] = []
            load = os.getloadavg()[0]
            pid = broker.process.pid
            broker_cpu = process_cpu_s(pid)
            sent, pub_wall, pub_cpu = asyncio.run(publish(fleet, settings,
                                                          START + GENERATE_S, payloads))
            broker_cpu_sim = process_cpu_s(pid) - broker_cpu
            broker_cpu = process_cpu_s(pid)
            lines, pub_l_wall, pub_l_cpu = ceiling(port, payloads, folder)
            broker_cpu_l = process_cpu_s(pid) - broker_cpu
        finally:
            broker.stop()
    published_rate = sent / pub_wall
    ceiling_rate = lines / pub_l_wall
    print(json.dumps({
        "benchmark": "simulator",
        "sensors": SENSORS,
        "interval_s": INTERVAL_S,
        "target_readings_per_s": SENSORS // INTERVAL_S,
        "generated_readings": generated,
        "generated_readings_per_s": round(generated / gen_wall),
        "generate_cpu_us_per_reading": round(gen_cpu / generated * 1e6, 2),
        "published_readings": sent,
        "published_readings_per_s": round(published_rate),
        "publish_cpu_us_per_reading": round(pub_cpu / sent * 1e6, 2),
        "publish_overhead_cpu_us_per_reading": round((pub_cpu / sent - gen_cpu / generated)
                                                     * 1e6, 2),
        "broker_cpu_us_per_message": round(broker_cpu_sim / sent * 1e6, 2),
        "mosquitto_pub_l_messages": lines,
        "mosquitto_pub_l_per_s": round(ceiling_rate),
        "mosquitto_pub_l_cpu_us_per_message": round(pub_l_cpu / lines * 1e6, 2),
        "broker_cpu_us_per_message_mosquitto_pub_l": round(broker_cpu_l / lines * 1e6, 2),
        "published_to_ceiling_ratio": round(published_rate / ceiling_rate, 3),
        "mean_payload_bytes": round(sum(map(len, payloads)) / len(payloads), 1),
        "rss_mb_per_1000_sensors": round((built_rss - base_rss) / SENSORS * 1000, 3),
        "rss_growth_mb_while_running": round(ran_rss - built_rss, 1),
        f"rss_growth_mb_in_the_next_{FLAT_CHECK_S}_s": round(later_rss - ran_rss, 1),
        "load_average_1m_at_publish": round(load, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
