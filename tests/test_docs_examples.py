"""The docs' examples are checked against the code, so they cannot drift from it.

Every `urbanpulse …` line in a shell block of README.md and docs/ parses with
the real command-line parser; every `curl localhost:8000/…` names a route,
method and query parameters of the api's OpenAPI document, with values its
patterns and enums accept; every `URBANPULSE_…` variable named is a setting.
No server is started: the parser and the OpenAPI document are enough.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from api.main import create_app
from ops.cli import build_parser
from urbanpulse.settings import ApiSettings, DoctorSettings, IngestSettings, SimSettings, load

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REFUSED = {"kind=bus"}
"""Query parameters the docs show on purpose with the 422 they get."""
BUILD_ONLY = {"URBANPULSE_PURE_PYTHON"}
"""Variables read by the build (setup.py), not by a service's settings."""


def _shell_lines(path: Path) -> list[tuple[str, str]]:
    """Return (`FILE:LINE`, command) of every line in the file's sh/bash/console blocks."""
    found, language, joined = [], None, ""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith("```"):
            language = None if language is not None else (line[3:].strip() or "text")
            continue
        if language not in ("sh", "bash", "console", "shell"):
            continue
        if language == "console" and not joined and not line.startswith("$ "):
            continue  # a command's output
        joined += line.removeprefix("$ ")
        if joined.endswith("\\"):
            joined = joined[:-1] + " "
            continue
        found.append((f"{path.relative_to(ROOT)}:{number}", joined.strip()))
        joined = ""
    return found


def _words(command: str) -> list[str]:
    return shlex.split(command, comments=True)


LINES = [line for path in DOCS for line in _shell_lines(path)]
CLI_LINES = [(where, words) for where, command in LINES
             if (words := _words(command)) and words[0] in (
                 "urbanpulse", ".venv/bin/urbanpulse", "make")]
CURL_LINES = [(where, words) for where, command in LINES
              if (words := _words(command)) and words[0] == "curl"
              and any("localhost:8000" in word for word in words)]


def _cli_args(words: list[str]) -> list[list[str]] | None:
    """Return the argument lists the line hands the parser (`make run ARGS=…` is `up`)."""
    if words[0] != "make":
        return [words[1:]]
    if words[1:2] != ["run"]:
        return None
    extra = [word.removeprefix("ARGS=") for word in words[2:] if word.startswith("ARGS=")]
    return [["up", *shlex.split(" ".join(extra))]]


def test_the_docs_have_commands_and_curls_to_check() -> None:
    assert len([1 for _, words in CLI_LINES if words[0] != "make"]) >= 5
    assert len(CURL_LINES) >= 5


@pytest.mark.parametrize(("where", "words"), CLI_LINES, ids=[w for w, _ in CLI_LINES])
def test_every_documented_command_line_parses(where: str, words: list[str]) -> None:
    for args in _cli_args(words) or []:
        try:
            parsed = build_parser().parse_args(args)
        except SystemExit as exc:
            if exc.code == 0:  # --help, --version
                continue
            pytest.fail(f"{where}: `{shlex.join(words)}` does not parse")
        if parsed.command == "up" and parsed.sim_args:
            # What follows `--` goes to the simulator: it must parse as `sim` flags.
            sim = [arg for arg in parsed.sim_args if arg != "--"]
            try:
                build_parser().parse_args(["sim", *sim])
            except SystemExit:
                pytest.fail(f"{where}: the simulator flags {sim} do not parse")


def _operations() -> dict[str, dict[str, Any]]:
    return dict(create_app(load(ApiSettings)).openapi()["paths"])


def _route(path: str, operations: dict[str, dict[str, Any]]) -> str | None:
    for template in operations:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return template
    return None


def _method(words: list[str]) -> str:
    for flag in ("-X", "--request"):
        if flag in words:
            return words[words.index(flag) + 1].lower()
    return "post" if {"-d", "--data", "--json", "--data-binary"} & set(words) else "get"


def _fits(schema: dict[str, Any], value: str) -> bool:
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return False
    if schema.get("type") == "integer":
        return (value.isdigit() and schema.get("minimum", 0) <= int(value)
                <= schema.get("maximum", int(value)))
    return True


def _accepts(schema: dict[str, Any], value: str) -> bool:
    """Whether a query or path value fits the parameter's schema (enum, pattern, bounds)."""
    options = [option for option in schema.get("anyOf", [{}]) if option.get("type") != "null"]
    return _fits(schema, value) and any(_fits(option, value) for option in options)


@pytest.mark.parametrize(("where", "words"), CURL_LINES, ids=[w for w, _ in CURL_LINES])
def test_every_documented_curl_names_a_route_and_its_parameters(where: str,
                                                                 words: list[str]) -> None:
    operations = _operations()
    url = next(word for word in words if "localhost:8000" in word)
    parts = urlsplit(url if "://" in url else f"http://{url}")
    template = _route(parts.path, operations)
    assert template is not None, f"{where}: no route {parts.path}"
    method = _method(words)
    assert method in operations[template], f"{where}: {template} has no {method.upper()}"
    parameters = {p["name"]: p for p in operations[template][method].get("parameters", ())}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        assert name in parameters, f"{where}: {template} has no parameter {name!r}"
        if "$(" not in value:
            fits = _accepts(parameters[name]["schema"], value)
            assert fits != (f"{name}={value}" in REFUSED), (
                f"{where}: {name}={value!r} is {'accepted' if fits else 'refused'} by the "
                "schema")
    for name, value in zip(re.findall(r"\{([^}]+)\}", template),
                           [p for t, p in zip(template.split("/"), parts.path.split("/"),
                                              strict=True) if t.startswith("{")], strict=True):
        assert _accepts(parameters[name]["schema"], value.removesuffix(".csv")
                        .removesuffix(".json")), f"{where}: {name} {value!r} is refused"


def _settings() -> set[str]:
    return {f"URBANPULSE_{name.upper()}" for model in (SimSettings, IngestSettings, ApiSettings,
                                                        DoctorSettings)
            for name in model.model_fields}


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_every_setting_the_docs_name_exists(path: str | Path) -> None:
    settings = _settings()
    for name in set(re.findall(r"URBANPULSE_[A-Z0-9_]*[A-Z0-9]_?", Path(path).read_text())):
        if name in BUILD_ONLY:
            continue
        if name.endswith("_"):  # a prefix, such as URBANPULSE_SIM_*
            assert any(known.startswith(name) for known in settings), f"{path}: {name}*"
        else:
            assert name in settings, f"{path}: {name} is no setting"


def test_build_only_variables_are_read_by_the_build() -> None:
    assert all(name in (ROOT / "setup.py").read_text() for name in BUILD_ONLY)
