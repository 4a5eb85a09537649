"""Exceptions of the shared core.

    UrbanPulseError
    ├── TopicError          a topic or topic name outside the grammar (also a ValueError)
    ├── LineProtocolError   a point that line protocol cannot carry (also a ValueError)
    └── ConfigError         a setting, flag or file that stops a process at start-up
"""


class UrbanPulseError(Exception):
    """Base of every error UrbanPulse raises on purpose."""


class TopicError(UrbanPulseError, ValueError):
    """A topic, or a name to put in one, does not follow the grammar."""


class LineProtocolError(UrbanPulseError, ValueError):
    """A measurement, tag or field cannot be written as line protocol."""


class ConfigError(UrbanPulseError):
    """Configuration that stops a process before it starts work."""
