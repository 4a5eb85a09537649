"""Value models of the sensor kinds, one module per kind, all in one registry.

Importing this package registers the built-in models (parking, air, water,
energy, noise) through `register`, the same decorator an extension uses.
"""

from simulator.models import air, energy, noise, parking, water
from simulator.models.registry import (
    MODELS,
    Drivers,
    FloatArray,
    IndexArray,
    Model,
    ModelFactory,
    build_model,
    register,
)

BUILTIN = (air, energy, noise, parking, water)
"""The modules of the built-in models (imported for their registrations)."""

__all__ = ["BUILTIN", "MODELS", "Drivers", "FloatArray", "IndexArray", "Model", "ModelFactory",
           "build_model", "register"]
