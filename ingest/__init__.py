"""The ingester: MQTT in, validated line protocol out to InfluxDB, dead letters for the rest.

    IngestError
    └── WriteRejectedError   InfluxDB refused a single point for good (400/422)
"""

from urbanpulse.errors import UrbanPulseError


class IngestError(UrbanPulseError):
    """Base of the errors the ingester raises on purpose."""


class WriteRejectedError(IngestError):
    """InfluxDB refused one point; it is dead-lettered, never retried."""
