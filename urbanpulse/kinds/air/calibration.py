"""How the ingester calibrates low-cost air stations against the reference stations near them.

Optical PM counters read high by a factor of their own and, above a humidity
where particles take up water, by a hygroscopic growth factor (facts §1.6:
"clear overestimation above 80 % RH"). The κ-Köhler correction of optical
particle counters (Crilley et al., AMT 11, 709, 2018) writes that factor as
`1 + (κ/1.65)·aw/(1 − aw)`, aw the water activity (RH/100), and the US-wide
correction of PurpleAir sensors (Barkjohn et al., AMT 14, 4617, 2021) fits
humidity as a term beside the sensor's reading. Here the term has the form the
facts give for the over-reading, `a·aw^b/(1 − aw)` above 70 % RH with b = 2,
and the low-cost stations of a district are fitted together as

    raw = gain · reference · (1 + growth · term(RH))

against the hourly mean of the district's reference (national-control)
stations, as China's micro-station networks calibrate against the
national-control stations near them. docs/calibration.md gives the reasons for
each number below and the error measured against the clean signal.
"""

from __future__ import annotations

from urbanpulse.kinds.calibration import Colocation, Limits, Response

DRY_RH = 70.0
"""At or below this relative humidity (%) the particles stay dry: the growth term is 0."""
WET_RH = 98.0
"""Above it the term is held at its value here: near saturation it grows without bound, and
a reading there says more about the water than about the particles."""


def hygroscopic_term(relative_humidity: float) -> float:
    """Return the growth term aw²/(1 − aw) of relative humidity (%), 0 when dry."""
    if relative_humidity <= DRY_RH:
        return 0.0
    water = min(relative_humidity, WET_RH) / 100.0
    return water * water / (1.0 - water)


CALIBRATION = Colocation(
    attribute="grade", reference="reference", calibrated="low-cost",
    corrected={"pm25": "pm25_cal", "pm10": "pm10_cal"},
    covariate="relative_humidity", term=hygroscopic_term,
    # Until a district has its own fit: a quarter high, the middle of the 10–40 % the air
    # model's optical counters over-read, and the growth coefficient of the facts' form.
    default=Response(offset=0.0, gain=1.25, growth=0.25),
    limits=Limits(gain=(0.5, 3.0), growth=(0.0, 1.5), offset=25.0),
    # Three days of hourly pairs; the growth once a day's worth of dry and of humid pairs.
    window_h=72.0, min_pairs=24.0, min_term_pairs=24.0,
)
