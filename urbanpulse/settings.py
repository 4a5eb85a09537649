"""Typed settings, one object per service, read from `URBANPULSE_*` variables and `.env`.

Each service builds its settings once at its entry point (`load`) and passes them
down; no other module reads the environment. Command-line flags override the
environment. A bad value stops the process with a sentence naming the variable.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from urbanpulse import now
from urbanpulse.births import MAX_AGE_S, MAX_FUTURE_S, MAX_PAYLOAD_BYTES
from urbanpulse.errors import ConfigError
from urbanpulse.topics import DEFAULT_ROOT, check_name

ENV_PREFIX = "URBANPULSE_"
WELL_KNOWN_SECRETS = frozenset({"change-me", "changeme", "secret", "password", "admin"})


def _refuse_well_known(value: SecretStr | None) -> SecretStr | None:
    if value is not None and value.get_secret_value().strip().lower() in WELL_KNOWN_SECRETS:
        raise ValueError("is a well-known default; set a real secret")
    return value


def _split_names(value: Any) -> Any:
    if isinstance(value, str):
        return [check_name(part.strip(), what="district") for part in value.split(",")
                if part.strip()]
    return value


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True,
    )

    topic_root: str = Field(DEFAULT_ROOT, description="First level of every MQTT topic")
    mqtt_host: str = Field("localhost", description="MQTT broker host")
    mqtt_port: int = Field(1883, ge=1, le=65535, description="MQTT broker port")
    mqtt_username: str | None = Field(None, description="MQTT user name (none: anonymous)")
    mqtt_password: SecretStr | None = Field(None, description="MQTT password")

    @field_validator("topic_root")
    @classmethod
    def _root_is_a_name(cls, value: str) -> str:
        return check_name(value, what="topic root")

    @field_validator("mqtt_password", mode="after")
    @classmethod
    def _mqtt_password_is_real(cls, value: SecretStr | None) -> SecretStr | None:
        return _refuse_well_known(value)


class _InfluxMixin(BaseSettings):
    influx_url: str = Field("http://localhost:8086", description="InfluxDB base URL")
    influx_db: str = Field("city", min_length=1, description="Database (1.x) or bucket (2.x)")
    influx_token: SecretStr | None = Field(None, description="Sent as 'Authorization: Token'")
    influx_timeout_s: float = Field(10.0, gt=0, le=300, description="HTTP timeout to InfluxDB")
    # InfluxDB 2 checks a v1 user name and password only under Basic auth (or u/p
    # parameters): `Token user:password` is looked up as an API token and refused.
    influx_username: str | None = Field(
        None, min_length=1, description="v1 user name, sent with the password as Basic auth")
    influx_password: SecretStr | None = Field(
        None, validate_default=True, description="Password of URBANPULSE_INFLUX_USERNAME")

    @field_validator("influx_url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        if "@" in value.split("//", 1)[1].split("/", 1)[0]:
            raise ValueError("must not carry credentials; set URBANPULSE_INFLUX_TOKEN instead")
        return value.rstrip("/")

    @field_validator("influx_token", mode="after")
    @classmethod
    def _token_is_real(cls, value: SecretStr | None) -> SecretStr | None:
        return _refuse_well_known(value)

    @field_validator("influx_password", mode="after")
    @classmethod
    def _password_goes_with_a_user(cls, value: SecretStr | None,
                                   info: ValidationInfo) -> SecretStr | None:
        has_user = info.data.get("influx_username") is not None
        if has_user != (value is not None):
            raise ValueError("set both URBANPULSE_INFLUX_USERNAME and URBANPULSE_INFLUX_PASSWORD"
                             " or neither")
        if value is not None and info.data.get("influx_token") is not None:
            raise ValueError("set either URBANPULSE_INFLUX_TOKEN or a user name and password,"
                             " not both")
        return _refuse_well_known(value)

    def influx_auth_headers(self) -> dict[str, str]:
        """Return the Authorization header for InfluxDB: Basic, Token, or none."""
        if self.influx_username is not None and self.influx_password is not None:
            return basic_auth_header(self.influx_username, self.influx_password)
        if self.influx_token is not None:
            return {"Authorization": f"Token {self.influx_token.get_secret_value()}"}
        return {}


class _AlertKeyMixin(BaseSettings):
    alert_key: SecretStr | None = Field(
        None, description="Key shared by ingest and api to sign alert states and ack commands "
                          "(none: states unsigned, acks refused, api stream off)")

    @field_validator("alert_key", mode="after")
    @classmethod
    def _alert_key_is_real(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("is shorter than 16 characters; make one with "
                             "`python -c 'import secrets; print(secrets.token_hex(32))'`")
        return _refuse_well_known(value)

    def alert_key_bytes(self) -> bytes | None:
        """Return the alert key as bytes, or None when none is set."""
        return None if self.alert_key is None else self.alert_key.get_secret_value().encode()


def basic_auth_header(username: str, password: SecretStr) -> dict[str, str]:
    """Return an HTTP Basic Authorization header for `username` and `password`."""
    pair = f"{username}:{password.get_secret_value()}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


class SimSettings(_Base):
    """Settings of `urbanpulse sim`."""

    sim_seed: int = Field(42, ge=0, description="Seed of every random stream")
    sim_speed: float = Field(1.0, ge=0, description="Simulated s per real s; 0 = unpaced")
    sim_scale: float = Field(1.0, gt=0, le=2000, description="Multiplies the city's sensor counts")
    sim_sensors: int | None = Field(None, gt=0, description="Total sensors (overrides scale)")
    sim_duration_s: float | None = Field(None, gt=0, description="Simulated seconds to run")
    sim_start: datetime | None = Field(None, description="Simulated start time (default: now)")
    sim_output: str | None = Field(None, description="jsonl:PATH or '-': write instead of publish")
    sim_max_inflight: int = Field(1000, ge=1, le=65535, description="Unacknowledged QoS 1 limit")
    sim_client_id: str | None = Field(
        None, min_length=1, description="MQTT client id (unset: urbanpulse-sim-HOST-PID, unique)")
    sim_max_queued: int = Field(
        200_000, ge=0,
        description="Wait while the broker holds more messages for its consumers (0: never)")
    sim_city: str = Field("shanghai", min_length=1,
                          description="City profile: a shipped name or a YAML file path")
    sim_scenario: str | None = Field(None, description="Scenario: a shipped name or a YAML file")
    sim_fault_rate: float = Field(0.0, ge=0, le=100,
                                  description="Injected device faults per sensor per day; 0 = none")
    sim_cadence: Literal["demo", "real"] = Field(
        "demo", description="Water stations every 10 min (demo) or every 2-4 h (real)")
    sim_backfill: bool = Field(True, description="Send a past start's history unpaced, then pace")

    @field_validator("sim_output")
    @classmethod
    def _output_is_known(cls, value: str | None) -> str | None:
        if value is not None and value != "-" and not value.startswith("jsonl:"):
            raise ValueError("must be 'jsonl:PATH' or '-'")
        return value


class IngestSettings(_AlertKeyMixin, _InfluxMixin, _Base):
    """Settings of `urbanpulse ingest`."""

    ingest_client_id: str = Field("urbanpulse-ingest", min_length=1,
                                  description="Fixed MQTT client id of the persistent session")
    ingest_instance: str = Field("main", description="Instance name in status topics")
    ingest_districts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated districts to consume (empty: all)")
    ingest_batch_size: int = Field(1000, ge=1, le=100_000, description="Points per write")
    ingest_flush_interval_s: float = Field(0.2, gt=0, le=60,
                                           description="Longest a reading waits for its batch")
    ingest_max_inflight: int = Field(20_000, ge=1, le=65535,
                                     description="MQTT Receive Maximum: unacked messages in flight")
    ingest_session_expiry_s: int = Field(86_400, ge=3600, description="Persistent session lifetime")
    ingest_max_payload_bytes: int = Field(MAX_PAYLOAD_BYTES, ge=256,
                                          description="Larger payloads are refused")
    ingest_max_future_s: float = Field(MAX_FUTURE_S, ge=0,
                                       description="Rejects readings further ahead")
    ingest_max_age_s: float = Field(MAX_AGE_S, gt=0, description="Refuses older readings")
    ingest_retry_max_s: float = Field(30, gt=0, description="Longest back-off between retries")
    ingest_drain_timeout_s: float = Field(20, gt=0, description="Bound on the SIGTERM drain")
    ingest_rules: str | None = Field(
        None, description="Alert rules YAML file (unset: the shipped default rules)")
    ingest_metrics_interval_s: float = Field(5, gt=0, le=3600,
                                             description="Period of the pipeline self-metrics")
    ingest_health_file: str | None = Field(
        None, description="Touched every few seconds while subscribed (container healthcheck)")
    ingest_rejection_log_burst: int = Field(
        5, ge=0, le=10_000, description="Rejections logged one by one per reason per interval")
    ingest_rejection_log_interval_s: float = Field(
        60, gt=0, le=86_400, description="Interval of the rejection log's burst and summary")
    ingest_ack_max_age_s: float = Field(
        300, gt=0, le=86_400, description="Refuses ack commands signed longer ago (or ahead)")
    ingest_rollup_interval_s: float = Field(
        5, gt=0, le=60, description="Period of rewriting the open minute rollups that changed")
    ingest_rollup_hour_interval_s: float = Field(
        300, gt=0, le=3600, description="Period of rewriting the open hour rollups that changed")
    ingest_rollup_lateness_s: float = Field(
        60, ge=0, le=3600, description="How long a rollup bucket stays open after it ends")
    ingest_state_interval_s: float = Field(
        5, gt=0, le=3600, description="Period of the retained per-district state messages")
    ingest_now_interval_s: float = Field(
        15, gt=0, le=now.INTERVAL_MAX_S,
        description="Period of the \"now\" snapshot of each district the dashboards read")
    ingest_incident_accepted_limit_s: float = Field(
        900, gt=0, le=30 * 86_400,
        description="Longest an incident may stay accepted (受理) before dispatch; then overrun")
    ingest_incident_dispatched_limit_s: float = Field(
        1800, gt=0, le=30 * 86_400,
        description="Longest an incident may stay dispatched (分派) before handling starts")
    ingest_incident_handling_limit_s: float = Field(
        14_400, gt=0, le=30 * 86_400,
        description="Longest an incident may stay in handling (处置) before it is closed")
    ingest_incident_join_window_s: float = Field(
        3600, ge=0, le=7 * 86_400,
        description="How long after its last alert resolved an open incident still takes "
                    "new alerts of its district and department")
    ingest_notify_group_wait_s: float = Field(
        30, ge=0, le=3600,
        description="How long a new notification group gathers its alerts before it pages")
    ingest_notify_group_interval_s: float = Field(
        300, gt=0, le=86_400,
        description="Least time between two notifications of one group (new firings batch)")
    ingest_notify_repeat_interval_s: float = Field(
        14_400, ge=0, le=7 * 86_400,
        description="A group still firing unacknowledged pages again after this long; 0: never")
    ingest_notify_flap_window_s: float = Field(
        3600, gt=0, le=86_400, description="Window in which an alert's state changes are counted")
    ingest_notify_flap_changes: int = Field(
        4, ge=2, le=1000,
        description="An alert with more state changes than this in the window is flapping")
    ingest_notify_flap_settle_s: float = Field(
        1800, gt=0, le=86_400,
        description="A flapping alert settles after this long without a state change")

    _split = field_validator("ingest_districts", mode="before")(_split_names)

    @field_validator("ingest_instance")
    @classmethod
    def _instance_is_a_name(cls, value: str) -> str:
        return check_name(value, what="ingest instance")

    @field_validator("ingest_notify_repeat_interval_s")
    @classmethod
    def _repeat_after_a_group_interval(cls, value: float, info: ValidationInfo) -> float:
        interval = info.data.get("ingest_notify_group_interval_s")
        if value and interval is not None and value < interval:
            raise ValueError(f"must be 0 (never) or at least "
                             f"{env_name('ingest_notify_group_interval_s')} ({interval:g} s)")
        return value


class ApiSettings(_AlertKeyMixin, _InfluxMixin, _Base):
    """Settings of `urbanpulse api`."""

    api_host: str = Field("127.0.0.1", description="Address the api listens on")
    api_port: int = Field(8000, ge=1, le=65535, description="Port the api listens on")
    api_max_range_s: int = Field(31 * 86_400, gt=0, description="Widest readings query range")
    api_max_points: int = Field(10_000, gt=0, description="Most points one readings query returns")
    api_key: SecretStr | None = Field(
        None, description="Key clients send as X-API-Key to acknowledge alerts (none: acks off)")
    api_ack_timeout_s: float = Field(
        5.0, gt=0, le=60, description="Longest an ack waits for the ingester's confirmation")
    api_cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated browser origins allowed by CORS (empty: none)")
    api_max_body_bytes: int = Field(16_384, ge=1024, le=10_485_760,
                                    description="Largest request body; larger ones get 413")
    api_export_max_range_s: int = Field(31 * 86_400, ge=3600,
                                        description="Widest time range of one export")
    api_export_max_rows: int = Field(500_000, ge=1, le=10_000_000,
                                     description="Most rows (sensor-hours) one export may hold")
    api_export_cache_mb: int = Field(
        256, ge=0, le=65_536,
        description="Megabytes of rendered export rows of settled hours the api keeps (0: none)")
    api_export_licence: str = Field(
        "UNSPECIFIED: set URBANPULSE_API_EXPORT_LICENCE", min_length=1, max_length=200,
        description="Licence named in every export's metadata (says 'UNSPECIFIED' until set)")
    api_stream_max_s: float = Field(
        3600, gt=0, le=86_400, description="Longest one alert stream stays open")
    api_access_log: Literal["changes", "all", "none"] = Field(
        "changes", description="Requests the api logs: 'changes' (any but GET, HEAD and "
                               "OPTIONS, and every answer of 400 or more), 'all' or 'none'")
    api_viewer_key: SecretStr | None = Field(
        None, description="Key clients send as X-API-Key to read incidents (none: only the "
                          "operator key reads them)")
    api_operator_key: SecretStr | None = Field(
        None, validate_default=True,
        description="Key clients send as X-API-Key to read and move incidents and to "
                    "acknowledge alerts (none: no transitions)")

    @field_validator("api_key", mode="after")
    @classmethod
    def _api_key_is_real(cls, value: SecretStr | None) -> SecretStr | None:
        return _refuse_well_known(value)

    @field_validator("api_viewer_key", mode="after")
    @classmethod
    def _viewer_key_is_real(cls, value: SecretStr | None) -> SecretStr | None:
        return _refuse_well_known(value)

    @field_validator("api_operator_key", mode="after")
    @classmethod
    def _operator_key_is_its_own(cls, value: SecretStr | None,
                                 info: ValidationInfo) -> SecretStr | None:
        viewer = info.data.get("api_viewer_key")
        if value is not None and viewer is not None and \
                value.get_secret_value() == viewer.get_secret_value():
            raise ValueError("is the same as URBANPULSE_API_VIEWER_KEY: a viewer could then "
                             "move incidents; give each its own key")
        return _refuse_well_known(value)

    @field_validator("api_cors_origins", mode="before")
    @classmethod
    def _origins_are_origins(cls, value: Any) -> Any:
        origins = value.split(",") if isinstance(value, str) else value
        if not isinstance(origins, list):
            return value
        origins = [str(part).strip() for part in origins if str(part).strip()]
        for origin in origins:
            scheme, _, host = origin.partition("://")
            if scheme not in ("http", "https") or not host or any(
                    char in host for char in "/*@?# "):
                raise ValueError(f"{origin!r} is not an origin: use scheme://host[:port] "
                                 "such as https://city.example.org, without a path or '*'")
        return origins


def _either(field: str, compose_name: str) -> AliasChoices:
    """Read `field` from its URBANPULSE_ variable, else from the compose `.env` name."""
    return AliasChoices(ENV_PREFIX + field.upper(), compose_name)


class DoctorSettings(_InfluxMixin, _Base):
    """Settings of `urbanpulse doctor`.

    The secrets are also read under their docker-compose names (MQTT_INGEST_PASSWORD...),
    so the doctor runs as is beside the stack's `.env`. No aliased field can fail
    validation, so `load` never has to name one.
    """

    model_config = SettingsConfigDict(populate_by_name=True)

    doctor_mqtt_simulator_password: SecretStr | None = Field(
        None, validation_alias=_either("doctor_mqtt_simulator_password", "MQTT_SIMULATOR_PASSWORD"),
        description="Password of MQTT account 'simulator' (unset: not checked)")
    doctor_mqtt_ingest_password: SecretStr | None = Field(
        None, validation_alias=_either("doctor_mqtt_ingest_password", "MQTT_INGEST_PASSWORD"),
        description="Password of MQTT account 'ingest' (unset: not checked)")
    doctor_mqtt_api_password: SecretStr | None = Field(
        None, validation_alias=_either("doctor_mqtt_api_password", "MQTT_API_PASSWORD"),
        description="Password of MQTT account 'api' (unset: not checked)")
    doctor_mqtt_observer_password: SecretStr | None = Field(
        None, validation_alias=_either("doctor_mqtt_observer_password", "MQTT_OBSERVER_PASSWORD"),
        description="Password of MQTT account 'observer' (unset: not checked)")
    doctor_influx_ingest_password: SecretStr | None = Field(
        None, validation_alias=_either("doctor_influx_ingest_password", "INFLUX_INGEST_PASSWORD"),
        description="Password of InfluxDB user 'ingest', which writes (unset: the influx_* ones)")
    doctor_influx_api_password: SecretStr | None = Field(
        None, validation_alias=_either("doctor_influx_api_password", "INFLUX_API_PASSWORD"),
        description="Password of InfluxDB user 'api', which reads (unset: the influx_* ones)")
    doctor_grafana_url: str = Field("http://localhost:3000", description="Grafana base URL")
    doctor_grafana_user: str = Field(
        "admin", validation_alias=_either("doctor_grafana_user", "GRAFANA_ADMIN_USER"),
        description="Grafana user name")
    doctor_grafana_password: SecretStr | None = Field(
        None, validation_alias=_either("doctor_grafana_password", "GRAFANA_ADMIN_PASSWORD"),
        description="Grafana password (unset, with no token: Grafana is not checked)")
    doctor_grafana_token: SecretStr | None = Field(
        None, description="Grafana service account token; used instead of user and password")
    doctor_dashboards: str = Field(
        "grafana/dashboards", min_length=1,
        description="Folder of the dashboard JSON files that Grafana must have provisioned")
    doctor_api_url: str = Field("http://localhost:8000", description="Base URL of the api")
    doctor_timeout_s: float = Field(5.0, gt=0, le=60, description="Longest wait for one check")
    doctor_ingest_max_age_s: float = Field(
        30.0, gt=0, le=86_400,
        description="Oldest the ingester's newest `pipeline` point may be (it writes one "
                    "every URBANPULSE_INGEST_METRICS_INTERVAL_S)")

    @field_validator("doctor_grafana_url", "doctor_api_url")
    @classmethod
    def _is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


SERVICE_SETTINGS: tuple[type[_Base], ...] = (SimSettings, IngestSettings, ApiSettings,
                                             DoctorSettings)
S = TypeVar("S", bound=_Base)
_SECRET_SUFFIXES = ("password", "token", "key")


def env_name(field: str) -> str:
    """Return the environment variable that sets `field`."""
    return f"{ENV_PREFIX}{field.upper()}"


def load(cls: type[S], **overrides: Any) -> S:
    """Build settings from the environment, `.env` and non-None overrides, or raise ConfigError."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return cls(**given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            shown = "hidden" if field.endswith(_SECRET_SUFFIXES) else repr(error.get("input"))
            problems.append(f"setting {env_name(field)} (value {shown}): {error['msg']}")
        raise ConfigError("Invalid configuration: " + "; ".join(problems) + ".") from None
