"""The command line: every subcommand documents itself; bad configuration stops it at once."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops import stack
from ops.cli import build_parser, main


def _urbanpulse(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("URBANPULSE_")}
    return subprocess.run([sys.executable, "-m", "ops", *args], capture_output=True,
                          text=True, timeout=60, env={**clean, **(env or {})}, check=False)


def _subcommands() -> list[str]:
    (commands,) = [action for action in build_parser()._actions
                   if isinstance(action, argparse._SubParsersAction)]
    return sorted(commands.choices)


def test_the_parser_has_the_designed_subcommands() -> None:
    assert _subcommands() == ["api", "doctor", "ingest", "kinds", "score", "sim",
                             "up"]


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main([command, "--help"])
    assert raised.value.code == 0
    assert f"usage: urbanpulse {command}" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "name", "seconds"), [
    (["sim", "--duration", "2h"], "duration", 7200.0),
    (["sim", "--duration", "90s"], "duration", 90.0),
    (["sim", "--duration", "1.5"], "duration", 1.5),
    (["score", "--truth", "run.jsonl", "--tolerance", "10m"], "tolerance", 600.0),
    (["score", "--truth", "run.jsonl"], "tolerance", 600.0),
])
def test_duration_flags_read_the_duration_grammar(args: list[str], name: str,
                                                  seconds: float) -> None:
    assert getattr(build_parser().parse_args(args), name) == seconds


@pytest.mark.parametrize("args", [["sim", "--duration", "2 hours"],
                                  ["score", "--truth", "run.jsonl", "--tolerance", "5min"]])
def test_a_bad_duration_is_a_usage_error_naming_the_flag(
        args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(args)
    assert raised.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert f"argument {args[-2]}: {args[-1]!r} is not a duration like 90s, 10m or 2h" in error


@pytest.mark.parametrize(("command", "variable", "value"), [
    ("sim", "URBANPULSE_SIM_SPEED", "fast"),
    ("ingest", "URBANPULSE_INGEST_BATCH_SIZE", "0"),
    ("api", "URBANPULSE_API_PORT", "99999"),
    ("doctor", "URBANPULSE_DOCTOR_TIMEOUT_S", "0"),
])
def test_bad_setting_exits_2_naming_it(command: str, variable: str, value: str) -> None:
    result = _urbanpulse(command, env={variable: value})
    assert result.returncode == 2
    assert variable in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_bad_flag_exits_2_naming_the_setting() -> None:
    result = _urbanpulse("sim", "--output", "csv:readings.csv")
    assert result.returncode == 2
    assert "URBANPULSE_SIM_OUTPUT" in result.stderr


@pytest.mark.parametrize(("flags", "said"), [
    (["--city", "paris"], "No city profile 'paris': give a file path or one of shanghai, "),
    (["--city", "/etc/passwd"], "/etc/passwd, line 1: the city profile must be a mapping of "),
    (["--scenario", "nope"], "No scenario 'nope': give a file path or one of "),
])
def test_bad_files_are_reported_before_connecting(flags: list[str], said: str) -> None:
    # Nothing listens on the broker port: the file must be named all the same.
    result = _urbanpulse("sim", "--mqtt-host", "127.0.0.1", "--mqtt-port",
                         str(stack.free_port()), *flags)
    assert result.returncode == 2
    assert result.stderr.startswith(f"urbanpulse sim: {said}")
    assert "Cannot reach" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_missing_server_binary_names_the_package() -> None:
    with pytest.raises(stack.MissingBinaryError) as raised:
        stack.find_binary("no-such-broker", "no-such-package")
    message = str(raised.value)
    assert "apt-get install no-such-package" in message
    assert "\n" not in message


def test_up_refuses_a_bad_port() -> None:
    result = _urbanpulse("up", "--mqtt-port", "70000")
    assert result.returncode == 2
    assert "--mqtt-port" in result.stderr


def test_doctor_exits_1_and_says_what_is_down(tmp_path: Path) -> None:
    ports = {name: stack.free_port() for name in ("mqtt", "influx", "api")}
    result = subprocess.run(
        [sys.executable, "-m", "ops", "doctor", "--mqtt-host", "127.0.0.1",
         "--mqtt-port", str(ports["mqtt"]), "--influx-url", f"http://127.0.0.1:{ports['influx']}",
         "--api-url", f"http://127.0.0.1:{ports['api']}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items()
             if not k.startswith(("URBANPULSE_", "MQTT_", "INFLUX_", "GRAFANA_"))})
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (f"FAIL  mqtt: cannot reach mosquitto at 127.0.0.1:{ports['mqtt']}: "
                        "Connection refused")
    assert lines[1].startswith("      fix: start the broker (docker compose up -d mosquitto)")
    assert any(line.startswith("FAIL  influxdb: cannot reach InfluxDB") for line in lines)
    assert any(line.startswith("SKIP  grafana: no Grafana password or token") for line in lines)
    assert any(line.startswith("FAIL  api: cannot reach the api") for line in lines)
    assert lines[-1] == "3 problems found."
