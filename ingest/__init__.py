"""The ingester: MQTT in, validated line protocol out to InfluxDB, dead letters for the rest.

    IngestError   the base of what the ingester raises on purpose
"""

from urbanpulse.errors import UrbanPulseError


class IngestError(UrbanPulseError):
    """Base of the errors the ingester raises on purpose."""
