"""The README opens with the commands CI runs, and its paho-mqtt example works."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

from ops import stack
from tests.conftest import publish_all

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_three_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["docker compose up", "make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_paho_example_receives_messages(mosquitto: stack.Server, topic_root: str,
                                               tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", README, re.DOTALL)
    assert code is not None
    snippet = code.group(1)
    assert 'client.connect("localhost", 1883)' in snippet
    assert 'client.subscribe("city/#", qos=1)' in snippet
    script = tmp_path / "example.py"
    script.write_text(snippet.replace("1883", str(mosquitto.port))
                      .replace('"city/#"', f'"{topic_root}/#"'))
    topic = f"{topic_root}/readings/pudong/air/air-pudong-0001"
    publish_all(mosquitto.port, [(topic, b'{"hello": 1}')], retain=True)  # waits for no one
    try:
        with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              text=True) as process:
            watchdog = threading.Timer(15, process.kill)
            watchdog.start()
            try:
                first_line = process.stdout.readline() if process.stdout else ""
            finally:
                watchdog.cancel()
                process.terminate()
    finally:
        publish_all(mosquitto.port, [(topic, b"")], retain=True)
    assert first_line == f'{topic} {{"hello": 1}}\n'
