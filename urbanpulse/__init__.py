"""UrbanPulse contract: the kinds registry, topics, wire messages, line protocol, MQTT 5
packets, InfluxQL text, durations, errors and settings.

Pure: nothing in this package does network I/O or imports a service. The
simulator, the ingester, the api and the operator commands (`ops`) import it
and bring their own edges.
"""

__version__ = "0.1.0"
