"""The noise kind's daily self-check: a monitor reads its 94 dB calibration signal at the
first reading after midnight, and a microphone off by more than 0.5 dB holds its levels."""

from __future__ import annotations

import numpy as np

from ingest.alerts.engine import AlertEngine
from ingest.alerts.rules import load_rules
from ingest.derive import derive
from simulator.drivers import Drivers
from simulator.faults import value_effects
from urbanpulse.kinds import get_kind
from urbanpulse.kinds.incidents import Episode
from urbanpulse.kinds.noise.model import CALIBRATION_DB, NoiseModel
from urbanpulse.messages import Alert, Reading, SensorBirth

MIDNIGHT = 1_772_380_800  # 2026-03-02 00:00 in Shanghai
SENSOR = "noise-pudong-0001"


class _Monitor:
    kind, zone, interval_s, step_s = "noise", "2", 60, 60

    def __init__(self, n: int) -> None:
        self.sensor = f"noise-pudong-{n:04d}"
        self.attributes: dict[str, str] = {}


def test_a_monitor_reads_its_calibration_signal_in_the_days_first_reading() -> None:
    model = NoiseModel([_Monitor(n) for n in range(3)], np.random.default_rng(1), Drivers())
    checks = []
    for t in range(MIDNIGHT - 3600, MIDNIGHT + 86_400, 60):
        checks.append(model.step(np.full(3, t), np.arange(3))["calibration_db"])
    read = np.array(checks)
    assert (np.isfinite(read).sum(axis=0) == 1).all()  # once a day each
    assert read[np.isfinite(read)].tolist() == [CALIBRATION_DB] * 3
    assert np.isfinite(read[60]).all()  # the first reading at or after midnight


def test_a_biased_microphone_reads_its_calibration_signal_off_by_the_bias() -> None:
    bias = Episode(0, SENSOR, "bias", MIDNIGHT - 600, None, {"factor": 1.4})
    values = {"laeq": 55.0, "calibration_db": CALIBRATION_DB}
    value_effects(get_kind("noise"))["bias"](bias, MIDNIGHT, values, {})
    assert values["calibration_db"] - CALIBRATION_DB == values["laeq"] - 55.0
    assert values["calibration_db"] > 94.5  # 1.5 dB high: the check fails


def _feed(engine: AlertEngine, ts_s: int, laeq: float, **extra: float) -> list[Alert]:
    reading = Reading(v=1, sensor=SENSOR, kind="noise", district="pudong", ts=ts_s * 1000,
                      seq=ts_s, values={"laeq": laeq, "lamax": laeq + 10, "la10": laeq + 2,
                                        "la90": laeq - 5, **extra})
    return engine.evaluate(reading, ts_s * 1000, derive(reading, "2"))


def test_a_failed_check_holds_the_monitors_levels_until_one_passes() -> None:
    shipped = {rule.name: rule for rule in load_rules()}
    engine = AlertEngine([shipped["noise-calibration-failed"], shipped["night-noise-high"]])
    engine.register(SensorBirth(v=1, sensor=SENSOR, kind="noise", district="pudong", site="s",
                                lat=31.2, lon=121.5, zone="2", interval_s=60, ts=0,
                                attributes={"noise_zone": "2"}), 0)
    (failed,) = _feed(engine, MIDNIGHT, 50.0, calibration_db=95.5)
    assert (failed.rule, failed.state) == ("noise-calibration-failed", "firing")
    assert failed.message == "calibration_db 95.5 dB outside 93.5..94.5"
    # 71.5 dB(A) for an hour: the biased microphone's, not judged while the check fails.
    assert [a for t in range(60, 3600, 60) for a in _feed(engine, MIDNIGHT + t, 71.5)] == []
    (passed,) = _feed(engine, MIDNIGHT + 86_400, 50.0, calibration_db=94.0)
    assert (passed.rule, passed.state) == ("noise-calibration-failed", "resolved")
    judged = [a for t in range(60, 1800, 60) for a in _feed(engine, MIDNIGHT + 86_400 + t, 71.5)]
    assert [(a.rule, a.state) for a in judged] == [("night-noise-high", "pending"),
                                                   ("night-noise-high", "firing")]
