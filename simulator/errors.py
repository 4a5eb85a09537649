"""Exceptions of the simulator.

    UrbanPulseError                 (urbanpulse.errors)
    ├── ConfigError                 a city or output setting that stops the simulator at start-up
    └── SimulatorError
        └── SinkError               a sink cannot connect, publish or flush
"""

from __future__ import annotations

from urbanpulse.errors import UrbanPulseError


class SimulatorError(UrbanPulseError):
    """Base of every error the simulator raises on purpose."""


class SinkError(SimulatorError):
    """A sink cannot connect to its destination, write to it, or flush it."""
