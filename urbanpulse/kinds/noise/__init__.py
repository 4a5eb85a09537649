"""Noise: environmental noise monitors judged against their GB 3096 acoustic zone."""

from urbanpulse.kinds.departments import NOISE
from urbanpulse.kinds.spec import (
    DerivedField,
    Metric,
    Ranking,
    SensorKind,
    Tally,
    derived,
    metrics,
    tallies,
)

SPEC = SensorKind(
    name="noise",
    title="Noise",
    description="Environmental noise monitors by GB 3096 acoustic zone",
    interval_s=60,
    fiware_type="NoiseLevelObserved",
    department=NOISE,
    ranked=(Ranking("laeq"),),
    metrics=metrics(
        Metric("laeq", "dB(A)", 10, 150, "Equivalent continuous A-weighted level"),
        Metric("lamax", "dB(A)", 10, 160, "Maximum A-weighted level over the interval"),
        Metric("la10", "dB(A)", 10, 150, "Level exceeded 10 % of the time"),
        Metric("la90", "dB(A)", 10, 150, "Level exceeded 90 % of the time (background)"),
        Metric("calibration_db", "dB", 60, 130,
               "Level read of the 94 dB calibration signal at the day's self-check"),
    ),
    derived=derived(
        DerivedField("noise_limit_db", "float", "dB(A)",
                     "GB 3096 limit of the monitor's zone at the reading's local hour"),
        DerivedField("noise_exceeds_limit", "boolean", "", "LAeq above that limit"),
        DerivedField("noise_over_limit_db", "float", "dB(A)",
                     "LAeq minus that limit: above 0 exceeds it"),
        DerivedField("laeq_energy", "float", "",
                     "LAeq as relative sound energy, 10^(LAeq/10): the energy average of "
                     "readings is 10·log10 of its mean"),
    ),
    tallies=tallies(Tally("noise_limit_db_count", "noise_limit_db",
                          "Readings with a GB 3096 limit (of a monitor whose zone is known)")),
    attributes={
        "noise_zone": "GB 3096 acoustic zone: 0, 1, 2, 3, 4a or 4b",
        "site_use": "Land use of the site the monitor stands in",
        "carrier": "The pole (streetlight id) the sensor is mounted on, if any",
    },
    mixes=("noise_zone",),
    faults=frozenset({"stuck", "bias", "spike", "dropout", "offline", "clock-skew",
                      "duplicate", "out-of-order", "malformed"}),
    incidents={
        "night-construction": "+15 dB(A) LAeq (+20 LAmax) between 22:00 and 06:00",
        "carrier-outage": "the pole the sensor is mounted on loses power (its power-cut): "
                          "no readings until the power is back; the truth names the pole "
                          "(detail.carrier)",
    },
    zoned=True,
)
