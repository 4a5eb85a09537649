"""Named random streams: independent numpy generators derived from one seed.

Each consumer (the city layout, the reporting phases, each kind's model) draws
from its own stream, keyed by a stable name, so adding a kind or a sensor to one
stream never shifts the numbers another stream produces.
"""

from __future__ import annotations

import zlib

import numpy as np


def random_stream(seed: int, name: str) -> np.random.Generator:
    """Return the generator for stream `name` under `seed`; the same pair gives the same numbers."""
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))
