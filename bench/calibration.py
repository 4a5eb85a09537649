"""Calibration of low-cost air stations: its error against the clean signal, and its cost.

Simulates the air stations of a city in-process (`simulator` city layout and
drivers, the air kind's model), a reading per station a minute at the
station's own phase, for `--days` days, and runs every reading through the
ingester's co-location calibration (`ingest.calibration`) in time order, as
the ingester takes them. The model's `measure` gives each reading's clean
value (the air's real PM before the instrument's error). Errors are over
station-hours (hourly means, as HJ 633's hourly AQI is), of low-cost
stations, raw and corrected against clean, on dry and humid hours (hourly
mean RH below or at least `HUMID_RH`), for the first day (the default
correction until each station's own fit is ready) and the days after it.
`variants_pm25_later_days` runs the same readings through other humidity
terms, and with a fit per station instead of per district. `cost_us` is the
CPU per low-cost reading of deriving its fields with calibration, against
deriving them from the raw values as the ingester did before.

    .venv/bin/python bench/calibration.py --seed 11 --days 8

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from ingest.calibration import HOUR, KindCalibration
from ingest.derive import Derivation
from simulator.city import build_city
from simulator.drivers import Drivers
from simulator.profile import load_profile
from simulator.streams import random_stream
from simulator.weather import Weather
from simulator.workdays import load_calendar
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.air import derive as air_derive
from urbanpulse.kinds.air.calibration import CALIBRATION, DRY_RH, WET_RH
from urbanpulse.kinds.air.model import AirModel
from urbanpulse.kinds.calibration import Colocation
from urbanpulse.messages import VERSION, Reading, SensorBirth

HUMID_RH = 80.0
"""Hourly mean RH (%) from which an hour counts as humid (facts §1.6: clear over-reading
above 80 % RH)."""
PM25_HIGH = 115.0
"""PM2.5 (µg/m³) of IAQI 150, the `pm25-high` rule's level."""
METRICS = ("pm25", "pm10")
COST_READINGS = 20_000
COST_ROUNDS = 5


@dataclasses.dataclass(slots=True)
class Sample:
    """One reading: the station's index, the reading, and its clean PM."""

    station: int
    reading: Reading
    clean: dict[str, float]


def simulate(city: str, seed: int, scale: float, start_s: int, days: float
             ) -> tuple[list[SensorBirth], list[Sample]]:
    """Return the air stations' births and their readings with clean values, in time order."""
    profile = load_profile(city)
    specs = [spec for spec in build_city(profile, scale=scale, seed=seed) if spec.kind == "air"]
    drivers = Drivers(calendar=load_calendar(profile.calendar),
                      weather=Weather(seed, profile.climate), pollution=profile.pollution,
                      climate=profile.climate)
    model = AirModel(specs, random_stream(seed, "model/air"), drivers)
    phases = random_stream(seed, "bench/phase").integers(0, 60_000, size=len(specs))
    births = [SensorBirth(v=VERSION, sensor=spec.sensor, kind=spec.kind, district=spec.district,
                          site=spec.site, lat=spec.lat, lon=spec.lon, zone=spec.zone,
                          interval_s=spec.interval_s, ts=start_s * 1000,
                          attributes=dict(spec.attributes)) for spec in specs]
    order = np.argsort(phases)
    everyone = np.arange(len(specs))
    samples: list[Sample] = []
    seqs = [0] * len(specs)
    for t in range(start_s, start_s + int(days * 86_400), 60):
        measurement = model.measure(t, everyone)
        for i in order.tolist():
            values = {name: float(column[i]) for name, column in measurement.measured.items()
                      if not math.isnan(column[i])}
            if not values:
                continue
            seqs[i] += 1
            spec = specs[i]
            samples.append(Sample(i, Reading(
                v=VERSION, sensor=spec.sensor, kind=spec.kind, district=spec.district,
                ts=t * 1000 + int(phases[i]), seq=seqs[i], values=values),
                {name: float(measurement.clean[name][i]) for name in METRICS}))
    return births, samples


def calibrate(colocation: Colocation, births: Sequence[SensorBirth], samples: Iterable[Sample]
              ) -> tuple[list[dict[str, float] | None], float | None]:
    """Return each sample's corrected values (None: a reference station's, taken as read),
    and the hours from the first sample until every district was on its own fit."""
    calibration = KindCalibration(KINDS["air"], colocation)
    for birth in births:
        calibration.register(birth.sensor, birth.district, birth.attributes)
    corrected: list[dict[str, float] | None] = []
    start, fitted_after, hour = None, None, -1
    for sample in samples:
        ts = sample.reading.ts
        corrected.append(calibration.correct(sample.reading, ts))
        start = ts if start is None else start
        if fitted_after is None and ts // HOUR != hour:
            hour = ts // HOUR
            own, districts = calibration.fitted()
            if own == districts:
                fitted_after = (ts - start) / HOUR
    return corrected, fitted_after


def per_station(births: Sequence[SensorBirth], samples: Sequence[Sample]
                ) -> list[dict[str, float] | None]:
    """Return each sample's corrected values with a fit per low-cost station instead of per
    district: each station calibrated alone with the reference stations."""
    corrected: list[dict[str, float] | None] = [None] * len(samples)
    references = {birth.sensor for birth in births if birth.attributes["grade"] == "reference"}
    for alone in births:
        if alone.sensor in references:
            continue
        chosen = [i for i, sample in enumerate(samples)
                  if sample.reading.sensor in references or sample.reading.sensor == alone.sensor]
        found, _ = calibrate(CALIBRATION, [birth for birth in births if birth.sensor in
                                           references or birth is alone],
                             [samples[i] for i in chosen])
        for i, value in zip(chosen, found, strict=True):
            if value is not None:
                corrected[i] = value
    return corrected


def errors(pairs: Sequence[tuple[float, float]]) -> dict[str, float]:
    """Return n, the means, MAE, bias, RMSE and r² (squared Pearson correlation) of (value,
    clean) pairs."""
    if len(pairs) < 2:
        return {"hours": len(pairs)}
    values, clean = zip(*pairs, strict=True)
    diffs = [value - truth for value, truth in pairs]
    return {"hours": len(pairs), "mean": round(statistics.fmean(values), 1),
            "clean_mean": round(statistics.fmean(clean), 1),
            "mae": round(statistics.fmean(abs(d) for d in diffs), 2),
            "bias": round(statistics.fmean(diffs), 2),
            "rmse": round(math.sqrt(statistics.fmean(d * d for d in diffs)), 2),
            "r2": round(statistics.correlation(values, clean) ** 2, 3)}


def exceedances(rows: Sequence[tuple[float, float, float]]) -> dict[str, int]:
    """Count hours above PM25_HIGH: clean, and raw and corrected with their false and missed."""
    found = {"clean": sum(clean > PM25_HIGH for _, _, clean in rows)}
    for name, position in (("raw", 0), ("corrected", 1)):
        found[name] = sum(row[position] > PM25_HIGH for row in rows)
        found[f"{name}_false"] = sum(row[position] > PM25_HIGH >= row[2] for row in rows)
        found[f"{name}_missed"] = sum(row[2] > PM25_HIGH >= row[position] for row in rows)
    return found


def station_hours(births: Sequence[SensorBirth], samples: Sequence[Sample],
                  corrected: Sequence[dict[str, float] | None], metric: str, start_ms: int
                  ) -> dict[str, list[tuple[float, float, float]]]:
    """Return the hourly means (raw, corrected, clean) of each station-hour, grouped by grade,
    day (first, later) and humidity (dry, humid)."""
    sums: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0] * 5)
    for sample, fixed in zip(samples, corrected, strict=True):
        raw = sample.reading.values.get(metric)
        if raw is None:
            continue
        cell = sums[sample.station, sample.reading.ts // HOUR]
        cell[0] += raw
        cell[1] += fixed[metric] if fixed is not None else raw
        cell[2] += sample.clean[metric]
        cell[3] += sample.reading.values.get("relative_humidity", math.nan)
        cell[4] += 1
    groups: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for (station, hour), (total, corrected_total, clean, humidity, n) in sums.items():
        grade = str(births[station].attributes["grade"])
        day = "first_day" if hour * HOUR < start_ms + 86_400_000 else "later_days"
        wet = "humid" if humidity / n >= HUMID_RH else "dry"
        row = (total / n, corrected_total / n, clean / n)
        for key in (f"{grade}/{day}/{wet}", f"{grade}/{day}/all", f"{grade}/all/{wet}",
                    f"{grade}/all/all"):
            groups[key].append(row)
    return groups


def report(groups: dict[str, list[tuple[float, float, float]]]) -> dict[str, Any]:
    """Return the raw and corrected errors of each low-cost group, the reference stations'
    raw error beside them."""
    found: dict[str, Any] = {}
    for key, rows in sorted(groups.items()):
        grade, rest = key.split("/", 1)
        if grade == "low-cost":
            found[rest] = {"raw": errors([(raw, clean) for raw, _, clean in rows]),
                           "corrected": errors([(fixed, clean) for _, fixed, clean in rows])}
        elif rest == "all/all":
            found["reference_stations_raw"] = errors([(raw, clean) for raw, _, clean in rows])
    return found


def _kappa_koehler(relative_humidity: float) -> float:
    """Return κ-Köhler's aw/(1 − aw), above the same onset as the shipped term."""
    if relative_humidity <= DRY_RH:
        return 0.0
    water = min(relative_humidity, WET_RH) / 100.0
    return water / (1.0 - water)


def _none(relative_humidity: float) -> float:
    return 0.0


VARIANTS: dict[str, Callable[[float], float]] = {
    "no_humidity_term": _none,
    "kappa_koehler_term": _kappa_koehler,
}
"""Other humidity terms, fitted the same way, for comparison with the shipped one."""


def cost(births: Sequence[SensorBirth], samples: Sequence[Sample]) -> dict[str, Any]:
    """Return the CPU µs per reading, of each grade, of deriving its fields from the raw
    values (as the ingester did before) and with calibration: the last COST_READINGS
    readings, once each, after all the earlier ones (the fits in place, the hours open);
    the median of COST_ROUNDS rounds."""
    warm, timed = samples[:-COST_READINGS], samples[-COST_READINGS:]
    grades = {birth.sensor: str(birth.attributes["grade"]) for birth in births}
    by_grade = {grade: [sample.reading for sample in timed
                        if grades[sample.reading.sensor] == grade]
                for grade in ("low-cost", "reference")}
    rounds: dict[str, list[tuple[float, float]]] = {grade: [] for grade in by_grade}
    for _ in range(COST_ROUNDS):
        derivation = Derivation()
        for birth in births:
            derivation.register(birth)
        for sample in warm:
            derivation.derive_encoded(sample.reading, None, sample.reading.ts)
        for grade, readings in by_grade.items():
            began = time.process_time()
            for reading in readings:
                air_derive.derive_encoded(reading, None)
            middle = time.process_time()
            for reading in readings:
                derivation.derive_encoded(reading, None, reading.ts)
            rounds[grade].append(((middle - began) / len(readings) * 1e6,
                                  (time.process_time() - middle) / len(readings) * 1e6))
    found: dict[str, Any] = {}
    for grade, times in rounds.items():
        before = statistics.median(time for time, _ in times)
        after = statistics.median(time for _, time in times)
        found[grade] = {"readings": len(by_grade[grade]), "raw_values_us": round(before, 2),
                        "calibrated_us": round(after, 2), "added_us": round(after - before, 2)}
    return found


def main() -> None:
    """Simulate, calibrate, and print the errors and the cost as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--city", default="shanghai")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--start", default="2026-03-02T00:00:00+08:00")
    parser.add_argument("--days", type=float, default=8.0)
    args = parser.parse_args()
    start_s = int(datetime.fromisoformat(args.start).timestamp())
    births, samples = simulate(args.city, args.seed, args.scale, start_s, args.days)
    start_ms = start_s * 1000
    corrected, fitted_after = calibrate(CALIBRATION, births, samples)
    grades = [str(birth.attributes["grade"]) for birth in births]
    result: dict[str, Any] = {
        "command": "bench/calibration.py " + " ".join(
            f"--{name} {value}" for name, value in vars(args).items()),
        "stations": {grade: grades.count(grade) for grade in sorted(set(grades))},
        "readings": len(samples), "humid_rh": HUMID_RH,
        "hours_until_every_district_fitted": fitted_after,
    }
    for metric in METRICS:
        groups = station_hours(births, samples, corrected, metric, start_ms)
        result[metric] = report(groups)
        if metric == "pm25":
            result["pm25_hours_above_115"] = {
                day: exceedances(groups[f"low-cost/{day}/all"])
                for day in ("first_day", "later_days")}
    variants = {name: calibrate(dataclasses.replace(CALIBRATION, term=term), births,
                                samples)[0] for name, term in VARIANTS.items()}
    variants["fit_per_station"] = per_station(births, samples)
    result["variants_pm25_later_days"] = {
        name: {wet: errors([(fixed, clean) for _, fixed, clean in station_hours(
            births, samples, found, "pm25", start_ms)[f"low-cost/later_days/{wet}"]])
               for wet in ("dry", "humid")}
        for name, found in variants.items()}
    result["cost_us"] = cost(births, samples)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
