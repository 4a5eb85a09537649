"""Causal chains: each shipped chain scenario announces its links under one cause, in order,
and the readings show each link's effect where and when its truth says."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from simulator.city import SensorSpec, default_city
from simulator.fleet import Fleet
from simulator.scenarios import load_scenario
from urbanpulse.errors import ConfigError
from urbanpulse.messages import Reading, Truth, birth_decoder, reading_decoder, truth_decoder
from urbanpulse.topics import Channel, parse

SEED = 5
DAY = 1_793_577_600  # 2026-11-02 08:00 in Shanghai
SUMMER = 1_786_320_000  # 2026-08-10 08:00 in Shanghai, in the typhoon season
HOUR = 3600


@dataclass
class Run:
    """A run's truths in arrival order and, per sensor, its readings; and the births' carriers."""

    truths: list[Truth] = field(default_factory=list)
    readings: dict[str, list[Reading]] = field(default_factory=lambda: defaultdict(list))
    carriers: dict[str, str] = field(default_factory=dict)

    def caused(self, cause: str) -> list[Truth]:
        return [truth for truth in self.truths if truth.detail.get("cause") == cause]

    def values(self, sensor: str, metric: str, since: float = 0, until: float = 2**62
               ) -> list[tuple[int, float]]:
        """Return (ts s, value) of `metric` in the sensor's readings with since <= ts < until."""
        return [(r.ts // 1000, r.values[metric]) for r in self.readings[sensor]
                if since <= r.ts / 1000 < until and metric in r.values]


@functools.cache
def city() -> tuple[SensorSpec, ...]:
    return tuple(default_city(seed=SEED))


@functools.cache
def run(scenario: str | None, start: int, hours: float) -> Run:
    """Run the shipped `scenario` (None: none) over the default city from `start`."""
    fleet = Fleet(city(), seed=SEED, incidents=load_scenario(scenario) if scenario else ())
    out = Run()
    for _, payload in fleet.births(start * 1000):
        birth = birth_decoder.decode(payload)
        if isinstance(carrier := birth.attributes.get("carrier"), str):
            out.carriers[birth.sensor] = carrier
    for _, messages in fleet.ticks(start, start + hours * HOUR):
        for topic, payload in messages:
            channel = parse(topic).channel
            if channel is Channel.TRUTH:
                out.truths.append(truth_decoder.decode(payload))
            else:
                reading = reading_decoder.decode(payload)
                out.readings[reading.sensor].append(reading)
    return out


def links(truths: Sequence[Truth]) -> dict[tuple[str, str], list[Truth]]:
    by_link: dict[tuple[str, str], list[Truth]] = defaultdict(list)
    for truth in truths:
        by_link[truth.kind, truth.type].append(truth)
    return by_link


def assert_one_cause_in_order(stream: Run, cause: str,
                              order: Sequence[tuple[str, str]]) -> dict[tuple[str, str],
                                                                         list[Truth]]:
    """Every truth of the run is a link of `cause`, and the links are `order`, starting in it."""
    assert stream.truths
    assert all(truth.detail.get("cause") == cause for truth in stream.truths)
    assert all(truth.detail["source"] == "incident" for truth in stream.truths)
    found = links(stream.truths)
    assert set(found) == set(order)
    starts = [min(truth.start for truth in found[link]) for link in order]
    assert starts == sorted(starts)
    return found


def sensors(kind: str, district: str | None = None) -> list[str]:
    return [s.sensor for s in city() if s.kind == kind and district in (None, s.district)]


def test_the_typhoon_rains_on_every_district_and_its_links_follow_in_order() -> None:
    stream = run("typhoon", SUMMER, 8)
    found = assert_one_cause_in_order(stream, "typhoon-shanghai", [
        ("rain", "typhoon-rain"), ("ponding", "cloudburst-ponding"),
        ("sewer", "sewer-surcharge"), ("manhole", "manhole-flooding"),
        ("pump", "pump-discharge"), ("streetlight", "pole-knocked"),
        ("streetlight", "lamp-failure"), ("water", "sewage-discharge")])
    districts = {s.district for s in city()}
    for link in [("rain", "typhoon-rain"), ("ponding", "cloudburst-ponding"),
                 ("sewer", "sewer-surcharge"), ("pump", "pump-discharge"),
                 ("manhole", "manhole-flooding"), ("water", "sewage-discharge")]:
        assert {truth.district for truth in found[link]} == districts, link
    bands = SUMMER + HOUR
    for district in sorted(districts):
        rain = [v for g in sensors("rain", district)
                for _, v in stream.values(g, "rain_3h", bands + 3 * HOUR, bands + 5 * HOUR)]
        assert min(rain) >= 50, district  # the CMA rainstorm signal: 50 mm in 3 h
        deep = [v for p in sensors("ponding", district)
                for _, v in stream.values(p, "depth_cm", bands, bands + 5 * HOUR)]
        assert max(deep) >= 15, district  # reported to the flood HQ
        assert all(v < 5 for p in sensors("ponding", district)
                   for _, v in stream.values(p, "depth_cm", until=bands))
        discharging = [v for p in sensors("pump", district)
                       for _, v in stream.values(p, "river_discharge", bands + HOUR)]
        assert max(discharging) == 1, district
    for truth in found["streetlight", "pole-knocked"]:
        tilts = stream.values(truth.sensor, "tilt_deg", truth.start / 1000)
        assert tilts
        assert min(v for _, v in tilts) > 5
    for truth in found["water", "sewage-discharge"]:
        before = stream.values(truth.sensor, "nh3_n", until=truth.start / 1000)
        after = stream.values(truth.sensor, "nh3_n", truth.start / 1000 + HOUR)
        assert max(v for _, v in after) > max(v for _, v in before) + 0.5


def test_a_main_burst_drops_the_districts_pressure_within_a_minute_and_raises_its_inflow(
        ) -> None:
    base, stream = run(None, DAY, 2.5), run("main-burst", DAY, 2.5)
    found = assert_one_cause_in_order(stream, "main-burst-huangpu", [
        ("pressure", "main-burst"), ("dma-flow", "main-burst-inflow"),
        ("tap-water", "turbidity-event"), ("ponding", "main-burst-flooding")])
    burst = DAY + HOUR
    assert {t.sensor for t in found["pressure", "main-burst"]} == set(
        sensors("pressure", "huangpu"))
    for point in sensors("pressure", "huangpu"):
        normal = dict(base.values(point, "pressure_mpa", burst))
        after = stream.values(point, "pressure_mpa", burst)
        assert after[0][0] - burst < 60  # the first reading after the burst already shows it
        assert all(0.049 <= normal[t] - v <= 0.151 for t, v in after), point
        assert stream.values(point, "pressure_mpa", until=burst) == base.values(
            point, "pressure_mpa", until=burst)
    (meter,) = [t.sensor for t in found["dma-flow", "main-burst-inflow"]]
    normal = dict(base.values(meter, "inflow_m3h", burst))
    assert all(v - normal[t] >= 60 for t, v in stream.values(meter, "inflow_m3h", burst))
    taps = [t.sensor for t in found["tap-water", "turbidity-event"]]
    assert len(taps) == 2
    for tap in taps:
        normal = dict(base.values(tap, "turbidity_ntu", burst))
        assert max(v - normal[t] for t, v in stream.values(tap, "turbidity_ntu", burst)) > 1.5
    (road,) = found["ponding", "main-burst-flooding"]
    assert next(s for s in city() if s.sensor == road.sensor).attributes["site_type"] == "low-road"
    assert max(v for _, v in stream.values(road.sensor, "depth_cm", road.start / 1000)) >= 5


def test_a_gas_leak_climbs_past_the_warning_then_the_alarm_and_reaches_the_tunnel() -> None:
    stream = run("gas-leak", DAY, 3)
    found = assert_one_cause_in_order(stream, "gas-leak-pudong", [
        ("gas", "gas-leak"), ("tunnel", "tunnel-gas")])
    detectors = [truth.sensor for truth in found["gas", "gas-leak"]]
    assert len(detectors) == 3
    assert all(sensor.startswith("gas-pudong-") for sensor in detectors)
    leak = DAY + HOUR
    for detector in detectors:
        lel = stream.values(detector, "ch4_lel")
        assert all(v < 20 for t, v in lel if t < leak)
        warning = next(t for t, v in lel if v > 20)
        alarm = next(t for t, v in lel if v > 25)
        assert leak < warning < alarm < leak + HOUR
    (tunnel,) = found["tunnel", "tunnel-gas"]
    assert next(s for s in city() if s.sensor == tunnel.sensor).attributes["compartment"] == "gas"
    assert tunnel.district == "pudong"
    assert max(v for _, v in stream.values(tunnel.sensor, "ch4_lel", tunnel.start / 1000)) > 25


def test_a_power_cut_silences_the_districts_poles_and_every_sensor_they_carry() -> None:
    stream = run("power-cut", DAY, 4)
    poles = set(sensors("streetlight", "huangpu"))
    carried = {sensor for sensor, pole in stream.carriers.items() if pole in poles}
    assert carried  # the shanghai city mounts air and noise sensors on Huangpu's poles
    assert {sensor.split("-")[0] for sensor in carried} <= {"air", "noise"}
    found = assert_one_cause_in_order(stream, "power-cut-huangpu", [
        ("streetlight", "power-cut"), ("air", "carrier-outage"), ("noise", "carrier-outage")])
    assert {t.sensor for t in found["streetlight", "power-cut"]} == poles
    outages = found["air", "carrier-outage"] + found["noise", "carrier-outage"]
    assert {t.sensor for t in outages} == carried
    cut = DAY + HOUR
    arrival = {(t.sensor, t.type): i for i, t in enumerate(stream.truths)}
    for truth in outages:
        assert truth.detail["carrier"] == stream.carriers[truth.sensor]
        assert truth.detail["carrier_incident"] == "power-cut"
        assert (truth.start, truth.end) == (cut * 1000, (cut + 2 * HOUR) * 1000)
        assert arrival[truth.detail["carrier"], "power-cut"] < arrival[truth.sensor, truth.type]
    for sensor in poles | carried:
        heard = [r.ts // 1000 for r in stream.readings[sensor]]
        assert any(t < cut for t in heard), sensor
        assert not any(cut <= t < cut + 2 * HOUR for t in heard), sensor
        assert any(t >= cut + 2 * HOUR for t in heard), sensor
    others = {s.sensor for s in city()
              if s.kind in ("streetlight", "air", "noise")} - poles - carried
    assert others
    for sensor in others:
        assert any(cut <= r.ts // 1000 < cut + 2 * HOUR for r in stream.readings[sensor])


def test_a_scenario_filters_on_attributes_and_takes_the_nearest_first(tmp_path: Path) -> None:
    path = tmp_path / "near.yaml"
    point = [31.2, 121.6]
    path.write_text("incidents:\n  - {type: gas-leak, at: 10m, duration: 1h, count: 2,\n"
                    f"     near: {point}, attributes: {{space: valve-well}}}}\n")
    fleet = Fleet(city(), seed=SEED, incidents=load_scenario(str(path)))
    hit = {truth_decoder.decode(payload).sensor for _, messages in fleet.ticks(DAY, DAY + 900)
           for topic, payload in messages if parse(topic).channel is Channel.TRUTH}
    wells = sorted((s for s in city() if s.kind == "gas" and s.attributes["space"] == "valve-well"),
                   key=lambda s: (s.lat - point[0]) ** 2 + ((s.lon - point[1]) * 0.855) ** 2)
    assert len(wells) > 2
    assert hit == {wells[0].sensor, wells[1].sensor}
    path.write_text("incidents:\n  - {type: gas-leak, at: 10m, duration: 1h,\n"
                    "     attributes: {compartment: gas}}\n")
    with pytest.raises(ConfigError, match=r"near.yaml, line 3: gas-leak strikes no sensor with "
                                          r"the attribute 'compartment'; its sensors have "
                                          r"site_use, space\."):
        load_scenario(str(path))
    path.write_text("incidents:\n  - {type: gas-leak, at: 10m, duration: 1h, near: [121, 31]}\n")
    with pytest.raises(ConfigError, match=r"line 2: \[121, 31\] is not a \[lat, lon\] point"):
        load_scenario(str(path))
