"""UrbanPulse shared core: catalog, topics, wire messages, line protocol, settings.

Nothing in this package does network I/O; the simulator, the ingester and the
api import it and bring their own edges.
"""

__version__ = "0.1.0"
