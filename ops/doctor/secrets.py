"""Refuse the compose stack's secrets when one is missing, short, well known or shared.

The one-shot `secrets` service of docker-compose.yml runs `python -m
ops.doctor.secrets` before mosquitto, InfluxDB and Grafana start: those
images would otherwise take 'change-me' as a password. The UrbanPulse services
refuse well-known values themselves (urbanpulse.settings), but only for their own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from urbanpulse.settings import WELL_KNOWN_SECRETS

COMPOSE_SECRETS = (
    "INFLUX_ADMIN_TOKEN", "INFLUX_ADMIN_PASSWORD", "INFLUX_INGEST_PASSWORD",
    "INFLUX_API_PASSWORD", "INFLUX_GRAFANA_PASSWORD", "GRAFANA_ADMIN_PASSWORD",
    "MQTT_SIMULATOR_PASSWORD", "MQTT_INGEST_PASSWORD", "MQTT_API_PASSWORD",
    "MQTT_OBSERVER_PASSWORD", "API_KEY", "API_VIEWER_KEY", "API_OPERATOR_KEY", "ALERT_KEY",
)
"""Every secret docker-compose.yml reads from `.env`."""

MIN_LENGTH = 16
"""Shortest secret accepted: `openssl rand -hex 24` gives 48 characters."""


def secret_problems(env: Mapping[str, str]) -> list[str]:
    """Return one sentence per secret of `env` that must not be used, with its fix."""
    problems = []
    owners: dict[str, str] = {}
    for name in COMPOSE_SECRETS:
        value = env.get(name, "").strip()
        if not value:
            problems.append(f"{name} is not set: set it in .env (e.g. `openssl rand -hex 24`).")
        elif value.lower() in WELL_KNOWN_SECRETS:
            problems.append(f"{name} is the well-known default {value!r}: replace it in .env "
                            "with a random value (e.g. `openssl rand -hex 24`).")
        elif len(value) < MIN_LENGTH:
            problems.append(f"{name} has {len(value)} characters, fewer than {MIN_LENGTH}: "
                            "use a longer random value (e.g. `openssl rand -hex 24`).")
        elif value in owners:
            # One leaked account would open the other: each service gets its own secret.
            problems.append(f"{name} has the same value as {owners[value]}: give each "
                            "secret its own random value.")
        else:
            owners[value] = name
    return problems


def main(env: Mapping[str, str] | None = None) -> int:
    """Print each problem to stderr and return 1, or confirm and return 0."""
    problems = secret_problems(os.environ if env is None else env)
    for problem in problems:
        print(f"secrets: {problem}", file=sys.stderr)
    if problems:
        print("secrets: refusing to start the stack; fix .env, then `docker compose up` again.",
              file=sys.stderr)
        return 1
    print(f"secrets: all {len(COMPOSE_SECRETS)} secrets are set, long enough and distinct.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
