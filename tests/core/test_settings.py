"""Settings: every one documented in .env.example, and bad values stop with a sentence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from urbanpulse.errors import ConfigError
from urbanpulse.settings import SERVICE_SETTINGS, IngestSettings, SimSettings, env_name, load

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = re.compile(r"^#?\s*(URBANPULSE_[A-Z0-9_]+)=", re.MULTILINE)


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    documented = set(DOCUMENTED.findall((ROOT / ".env.example").read_text()))
    defined = {env_name(name) for cls in SERVICE_SETTINGS for name in cls.model_fields}
    assert defined - documented == set(), "settings missing from .env.example"
    assert documented - defined == set(), ".env.example names settings that do not exist"


def test_every_setting_has_a_description() -> None:
    for cls in SERVICE_SETTINGS:
        for name, field in cls.model_fields.items():
            assert field.description, f"{cls.__name__}.{name} has no description"


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANPULSE_INGEST_BATCH_SIZE", "lots")
    with pytest.raises(ConfigError, match=r"URBANPULSE_INGEST_BATCH_SIZE.*'lots'"):
        load(IngestSettings)


def test_a_well_known_secret_is_refused_and_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANPULSE_MQTT_PASSWORD", "change-me")
    with pytest.raises(ConfigError, match="URBANPULSE_MQTT_PASSWORD") as raised:
        load(SimSettings)
    assert "change-me" not in str(raised.value)


def test_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANPULSE_MQTT_PORT", "1999")
    monkeypatch.setenv("URBANPULSE_INGEST_DISTRICTS", "pudong, huangpu")
    settings = load(IngestSettings, mqtt_port=2000, influx_db=None)
    assert settings.mqtt_port == 2000
    assert settings.influx_db == "city"
    assert settings.ingest_districts == ["pudong", "huangpu"]


@pytest.mark.parametrize(("variable", "value"), [
    ("URBANPULSE_TOPIC_ROOT", "city/#"), ("URBANPULSE_INFLUX_URL", "localhost:8086"),
    ("URBANPULSE_SIM_OUTPUT", "csv:out"),
    ("URBANPULSE_INFLUX_URL", "http://user:secret@localhost:8086"),
    ("URBANPULSE_INGEST_DISTRICTS", "Pu+dong"),
])
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, variable: str,
                                    value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load(IngestSettings if "SIM" not in variable else SimSettings)
