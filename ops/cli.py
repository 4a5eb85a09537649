"""The `urbanpulse` command: one subcommand per process (`sim`, `ingest`, `api`, `up`), and more.

`score` rates alert rules against a run's ground truth; `doctor` checks a running stack;
`kinds` prints the registered kinds (docs/kinds.md is its output).

Flags override `URBANPULSE_*` variables and `.env`; a bad value of either, or a
city profile, scenario or rules file that does not load, stops the command
before it connects anywhere, with a sentence naming the setting, or the file
and the line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from urbanpulse import __version__
from urbanpulse.durations import seconds
from urbanpulse.errors import ConfigError, UrbanPulseError
from urbanpulse.settings import ApiSettings, DoctorSettings, IngestSettings, SimSettings, load


def _mqtt_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mqtt-host", help="broker host (URBANPULSE_MQTT_HOST)")
    parser.add_argument("--mqtt-port", type=int, help="broker port (URBANPULSE_MQTT_PORT)")
    parser.add_argument("--topic-root", help="first topic level (URBANPULSE_TOPIC_ROOT)")


def _influx_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--influx-url", help="InfluxDB base URL (URBANPULSE_INFLUX_URL)")
    parser.add_argument("--influx-db", help="database or bucket (URBANPULSE_INFLUX_DB)")


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return {"mqtt_host": args.mqtt_host, "mqtt_port": args.mqtt_port,
            "topic_root": args.topic_root}


def _run_sim(args: argparse.Namespace) -> int:
    from simulator.run import main  # noqa: PLC0415  (each service imports only its own deps)

    settings = load(SimSettings, **_common(args), sim_seed=args.seed, sim_speed=args.speed,
                    sim_duration_s=args.duration, sim_scale=args.scale,
                    sim_sensors=args.sensors, sim_start=args.start, sim_output=args.output,
                    sim_city=args.city, sim_scenario=args.scenario,
                    sim_fault_rate=args.fault_rate, sim_cadence=args.cadence,
                    sim_backfill=args.backfill)
    scenario_from = None
    if args.warm_up:  # the run begins earlier, and lasts longer, by the warm-up
        scenario_from = settings.sim_start or datetime.now(UTC)
        if scenario_from.tzinfo is None:
            scenario_from = scenario_from.replace(tzinfo=UTC)  # a naive --start means UTC
        settings = settings.model_copy(update={
            "sim_start": scenario_from - timedelta(seconds=args.warm_up),
            "sim_duration_s": None if settings.sim_duration_s is None
            else settings.sim_duration_s + args.warm_up})
    return main(settings, clean_signal=args.clean_signal, scenario_from=scenario_from)


def _run_ingest(args: argparse.Namespace) -> int:
    from ingest.service import main  # noqa: PLC0415

    settings = load(IngestSettings, **_common(args), influx_url=args.influx_url,
                    influx_db=args.influx_db, ingest_districts=args.districts,
                    ingest_instance=args.instance)
    return main(settings)


def _run_api(args: argparse.Namespace) -> int:
    from api.main import main  # noqa: PLC0415

    settings = load(ApiSettings, **_common(args), influx_url=args.influx_url,
                    influx_db=args.influx_db, api_host=args.host, api_port=args.port)
    return main(settings)


def _run_up(args: argparse.Namespace) -> int:
    from ops.up import LocalStack  # noqa: PLC0415

    stack = LocalStack(data_dir=args.data_dir, mqtt_port=args.mqtt_port,
                       influx_port=args.influx_port, api_port=args.api_port,
                       sim_args=args.sim_args)
    return stack.run()


def _run_score(args: argparse.Namespace) -> int:
    from ops.score_run import run_score  # noqa: PLC0415

    settings = load(IngestSettings, topic_root=args.topic_root, influx_url=args.influx_url,
                    influx_db=args.influx_db, ingest_rules=args.rules)
    print(run_score(settings, truth=args.truth, alerts=args.alerts, use_replay=args.replay,
                    start=args.start, end=args.end, tolerance_s=args.tolerance,
                    as_json=args.json, scored_from=args.scored_from, goal=args.goal))
    return 0


def _run_doctor(args: argparse.Namespace) -> int:
    from ops.doctor.checks import main  # noqa: PLC0415

    settings = load(DoctorSettings, **_common(args), influx_url=args.influx_url,
                    influx_db=args.influx_db, doctor_grafana_url=args.grafana_url,
                    doctor_api_url=args.api_url)
    return main(settings)


def _run_kinds(args: argparse.Namespace) -> int:
    from ops.catalog import as_json, markdown  # noqa: PLC0415

    sys.stdout.write(as_json() if args.json else markdown())
    return 0


def _kinds_parser(commands: Any) -> None:
    kinds = commands.add_parser(
        "kinds", help="print every registered kind: metrics, fields, faults, default rules",
        description="Print each registered sensor kind, built in or installed, from the "
        "registry: interval, FIWARE type, metrics, derived fields, birth attributes, "
        "faults, incidents and default rules, as the Markdown of docs/kinds.md "
        "(regenerate it with `urbanpulse kinds > docs/kinds.md`).")
    kinds.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    kinds.set_defaults(run=_run_kinds)


def _doctor_parser(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor", help="check a running stack end to end and say how to fix it",
        description="Check the broker (each account's login and publish rights), InfluxDB "
        "(a write and a query), Grafana (data source health, provisioned dashboards) and "
        "the api's health; print each problem with its fix. Run beside the compose .env, "
        "it reads the stack's passwords from it. Exit code 1 when a check failed.")
    _mqtt_flags(doctor)
    _influx_flags(doctor)
    doctor.add_argument("--grafana-url", help="Grafana base URL (URBANPULSE_DOCTOR_GRAFANA_URL)")
    doctor.add_argument("--api-url", help="api base URL (URBANPULSE_DOCTOR_API_URL)")
    doctor.set_defaults(run=_run_doctor)


def _start(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def _duration(text: str) -> float:
    """Read a span in the one duration grammar (`90s`, `10m`, `2h`, bare seconds)."""
    try:
        return seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _score_parser(commands: Any) -> None:
    score = commands.add_parser(
        "score", help="score alert rules against a run's ground truth",
        description="Print per rule and overall: precision, recall, false alarms per "
        "sensor-day and detection delay of the alerts of a run (docs/alerts.md); then the "
        "alerts grouped into incidents by the ingester's desk, whatever their source, and "
        "whether each injected incident became exactly one (docs/incidents.md). Alerts read "
        "from InfluxDB are grouped from --start on: an incident opened before it is not seen.")
    score.add_argument("--truth", type=Path, required=True,
                       help="jsonl file written by `urbanpulse sim --output jsonl:PATH`")
    source = score.add_mutually_exclusive_group()
    source.add_argument("--alerts", type=Path,
                        help="alert payloads, one a line (bare, {topic, payload}, or "
                        "`mosquitto_sub -v`)")
    source.add_argument("--replay", action="store_true",
                        help="evaluate the rules on the truth file's readings in-process")
    _influx_flags(score)
    score.add_argument("--start", type=_start, help="read InfluxDB alerts from (ISO 8601)")
    score.add_argument("--end", type=_start, help="read InfluxDB alerts until (ISO 8601)")
    score.add_argument("--from", dest="scored_from", type=_start,
                       help="score from this time (ISO 8601) on: the run before it is a "
                       "warm-up, replayed so that rules learn their baselines, not scored "
                       "(nor its incidents)")
    score.add_argument("--rules", help="rules YAML file (default: the shipped rules)")
    score.add_argument("--tolerance", type=_duration, default=600.0,
                       help="how far an alert may lie outside a truth event: 90s, 10m, or "
                       "seconds (default 10m)")
    score.add_argument("--topic-root", help="first topic level (URBANPULSE_TOPIC_ROOT)")
    score.add_argument("--json", action="store_true", help="print JSON instead of a table")
    score.add_argument("--goal", action="store_true",
                       help="also check the quality goal (docs/alerts.md) and print what misses "
                       "it, each injected incident that is not exactly one incident included")
    score.set_defaults(run=_run_score)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the whole command line."""
    parser = argparse.ArgumentParser(
        prog="urbanpulse", description="UrbanPulse: a simulated city IoT sensor platform.")
    parser.add_argument("--version", action="version", version=f"urbanpulse {__version__}")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = commands.add_parser("sim", help="publish simulated sensor readings",
                              description="Simulate the city's sensors and publish their "
                              "births and readings over MQTT (or write them with --output).")
    _mqtt_flags(sim)
    sim.add_argument("--seed", type=int, help="seed of every random stream (URBANPULSE_SIM_SEED)")
    sim.add_argument("--speed", type=float,
                     help="simulated seconds per real second; 0 runs unpaced")
    sim.add_argument("--duration", type=_duration,
                     help="simulated time to run: 90s, 10m, 2h, 1d, or seconds (default: forever)")
    sim.add_argument("--scale", type=float, help="multiplies the city's sensor counts")
    sim.add_argument("--sensors", type=int, help="total number of sensors (overrides --scale)")
    sim.add_argument("--start", type=_start,
                     help="simulated start, ISO 8601 (default: now); fix it for identical runs")
    sim.add_argument("--warm-up", type=_duration, default=0.0,
                     help="simulate this span before --start first (7d: a week of history for "
                     "rules that learn baselines); --duration and the scenario's offsets count "
                     "from --start, and `urbanpulse score --from` scores from there")
    sim.add_argument("--output", help="jsonl:PATH or '-' to write messages instead of publishing")
    sim.add_argument("--city", help="city profile: shanghai, yancheng or a YAML file")
    sim.add_argument("--scenario", help="incident timeline: a shipped name or a YAML file")
    sim.add_argument("--fault-rate", type=float,
                     help="injected device faults per sensor per day (default 0: none)")
    sim.add_argument("--cadence", choices=["demo", "real"],
                     help="water stations every 10 min (demo, default) or 2-4 h (real)")
    sim.add_argument("--backfill", action=argparse.BooleanOptionalAction, default=None,
                     help="send a past --start's history unpaced, then pace (default on)")
    sim.add_argument("--clean-signal", action=argparse.BooleanOptionalAction, default=None,
                     help="also tell each sensor's clean signal (without sensor error or "
                     "faults) on city/truth/.../clean, for `urbanpulse score` (default: with "
                     "--output only)")
    sim.set_defaults(run=_run_sim)

    ingest = commands.add_parser("ingest", help="validate readings and write them to InfluxDB",
                                 description="Consume readings and births from the broker, "
                                 "validate them, write them to InfluxDB and dead-letter the rest.")
    _mqtt_flags(ingest)
    _influx_flags(ingest)
    ingest.add_argument("--districts", help="comma-separated districts to consume (default all)")
    ingest.add_argument("--instance", help="instance name in status topics")
    ingest.set_defaults(run=_run_ingest)

    api = commands.add_parser("api", help="serve the HTTP API",
                              description="Serve sensors, readings and health over HTTP.")
    _mqtt_flags(api)
    _influx_flags(api)
    api.add_argument("--host", help="listen address (URBANPULSE_API_HOST)")
    api.add_argument("--port", type=int, help="listen port (URBANPULSE_API_PORT)")
    api.set_defaults(run=_run_api)

    _score_parser(commands)
    _doctor_parser(commands)
    _kinds_parser(commands)

    up = commands.add_parser("up", help="run the whole pipeline on local mosquitto and influxd",
                             description="Start mosquitto and influxd from PATH, then the "
                             "simulator, the ingester and the api; Ctrl-C stops them all.")
    up.add_argument("--data-dir", type=Path, default=Path(".urbanpulse"),
                    help="folder for the servers' data and logs (default ./.urbanpulse)")
    up.add_argument("--mqtt-port", type=int, default=1883, help="broker port (default 1883)")
    up.add_argument("--influx-port", type=int, default=8086, help="InfluxDB port (default 8086)")
    up.add_argument("--api-port", type=int, default=8000, help="api port (default 8000)")
    up.add_argument("sim_args", nargs=argparse.REMAINDER,
                    help="after '--': extra flags for the simulator, e.g. -- --scale 5")
    up.set_defaults(run=_run_up)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("gmqtt", "httpx"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ConfigError as exc:
        print(f"urbanpulse {args.command}: {exc}", file=sys.stderr)
        return 2
    except UrbanPulseError as exc:
        print(f"urbanpulse {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
