"""Air quality: HJ 633 pollutants with temperature and humidity, reference and low-cost.

The AQI fields are derived from the calibrated PM (`pm25_cal`, `pm10_cal`): a
low-cost station's PM corrected against the reference stations of its
district (`calibration.py`), a reference station's as it reads.
"""

from urbanpulse.kinds.departments import AIR
from urbanpulse.kinds.spec import DerivedField, Metric, Ranking, SensorKind, derived, metrics

SPEC = SensorKind(
    name="air",
    title="Air quality",
    description="Air-quality stations (HJ 633 pollutants plus temperature and humidity)",
    interval_s=60,
    fiware_type="AirQualityObserved",
    department=AIR,
    ranked=(Ranking("aqi"),),
    metrics=metrics(
        Metric("pm25", "µg/m³", 0, 2_000, "Fine particulate matter PM2.5",
               instrument="particulate"),
        Metric("pm10", "µg/m³", 0, 3_000, "Particulate matter PM10", instrument="particulate"),
        Metric("no2", "µg/m³", 0, 4_000, "Nitrogen dioxide", instrument="no2-analyser"),
        Metric("so2", "µg/m³", 0, 3_000, "Sulphur dioxide", instrument="so2-analyser"),
        Metric("co", "mg/m³", 0, 200, "Carbon monoxide", instrument="co-analyser"),
        Metric("o3", "µg/m³", 0, 1_500, "Ozone", instrument="o3-analyser"),
        Metric("temperature", "°C", -50, 60, "Air temperature", instrument="thermo-hygrometer"),
        Metric("relative_humidity", "%", 0, 100, "Relative humidity",
               instrument="thermo-hygrometer"),
    ),
    derived=derived(
        DerivedField("aqi", "integer", "AQI", "HJ 633 real-time AQI"),
        DerivedField("aqi_level", "integer", "level", "HJ 633 level, 1 (excellent) to 6 (severe)"),
        DerivedField("primary_pollutant", "string", "",
                     "Pollutants whose IAQI equals the AQI, comma-separated; absent when "
                     "AQI <= 50"),
        DerivedField("pm25_cal", "float", "µg/m³",
                     "PM2.5 calibrated against the district's reference stations "
                     "(docs/calibration.md); a reference station's own PM2.5"),
        DerivedField("pm10_cal", "float", "µg/m³",
                     "PM10 calibrated against the district's reference stations; a "
                     "reference station's own PM10"),
    ),
    attributes={
        "siting": "urban, roadside or suburban",
        "grade": "reference (national-control) or low-cost",
        "site_use": "Land use of the site the station stands in",
        "carrier": "The pole (streetlight id) the sensor is mounted on, if any",
    },
    mixes=("air_siting",),
    faults=frozenset({"stuck", "drift", "bias", "spike", "dropout", "offline", "clock-skew",
                      "duplicate", "out-of-order", "malformed"}),
    incidents={
        "pollution-episode": "PM x magnitude (default 3), NO2 and CO up, ramped in and out",
        "carrier-outage": "the pole the sensor is mounted on loses power (its power-cut): "
                          "no readings until the power is back; the truth names the pole "
                          "(detail.carrier)",
    },
)
