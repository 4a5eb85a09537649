"""Where simulated messages go: an MQTT broker, a JSON-lines file or stdout, or memory.

All three implement `Sink`. `MqttSink` publishes with QoS 1 through the
simulator's own publish-only MQTT 5 client (`simulator.publisher`), keeping at
most a window of messages unacknowledged (the smaller of
URBANPULSE_SIM_MAX_INFLIGHT and the broker's Receive Maximum): `send` returns
at once while the window has room and otherwise waits until half of it is
acknowledged, so the packets of a tick go out in a few large writes. Readings
also wait while the broker holds more than URBANPULSE_SIM_MAX_QUEUED messages
its consumers have not taken (`simulator.broker_queue`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Protocol

import msgspec

from simulator.broker_queue import BrokerQueue
from simulator.errors import SinkError
from simulator.publisher import Publisher
from urbanpulse.errors import ConfigError
from urbanpulse.settings import SimSettings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 30.0


Message = tuple[str, bytes]
"""A topic and its payload."""


class Sink(Protocol):
    """A destination for topic and payload pairs."""

    async def send(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Send one message; may wait (backpressure) but never drops it."""
        ...

    async def send_many(self, messages: Sequence[Message], *, retain: bool) -> None:
        """Send messages in order, as `send` would one by one, with less overhead per message."""
        ...

    async def close(self) -> None:
        """Deliver or flush everything sent so far, then release the destination."""
        ...


class MemorySink:
    """Keeps every message in `messages` as (topic, payload, retain), for tests."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.closed = False

    async def send(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Record one message."""
        self.messages.append((topic, payload, retain))

    async def send_many(self, messages: Sequence[Message], *, retain: bool) -> None:
        """Record messages."""
        self.messages.extend((topic, payload, retain) for topic, payload in messages)

    async def close(self) -> None:
        """Mark the sink closed."""
        self.closed = True


class JsonlSink:
    """Writes one JSON line per message: `{"topic": T, "retain": R, "payload": P}`.

    P is the payload spliced in verbatim when it is one valid JSON value on one
    line (every payload the simulator builds), and `null` when it is empty (a
    cleared retained message). Any other payload (a malformed-payload fault:
    truncated JSON, NaN) goes into `"payload_text"` as a JSON string, or into
    `"payload_base64"` when it is not UTF-8, so every line stays valid JSON
    Lines whatever the payload; `ops.score_run.envelopes` reads all three back
    to the exact bytes.
    """

    def __init__(self, target: str | Path) -> None:
        """Open `target` for writing, or use stdout when it is '-'."""
        self._owned = target != "-"
        self._name = str(target) if self._owned else "stdout"
        try:
            self._file: IO[bytes] = open(target, "wb") if self._owned else sys.stdout.buffer  # noqa: SIM115
        except OSError as exc:
            raise SinkError(f"Cannot open the output file {self._name}: {exc.strerror}.") from exc

    async def send(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Write one line."""
        await self.send_many([(topic, payload)], retain=retain)

    async def send_many(self, messages: Sequence[Message], *, retain: bool) -> None:
        """Write one line per message."""
        flag = b',"retain":true,' if retain else b',"retain":false,'
        encode = msgspec.json.encode
        try:
            self._file.write(b"".join([b"".join((b'{"topic":', encode(topic), flag,
                                                 _payload_field(payload), b"}\n"))
                                       for topic, payload in messages]))
        except OSError as exc:
            raise SinkError(f"Cannot write to {self._name}: {exc.strerror or exc}.") from exc

    async def close(self) -> None:
        """Flush, and close the file unless it is stdout."""
        try:
            self._file.flush()
        except OSError as exc:
            raise SinkError(f"Cannot flush {self._name}: {exc.strerror or exc}.") from exc
        finally:
            if self._owned:
                self._file.close()


def _payload_field(payload: bytes) -> bytes:
    """Return the `"payload…":…` member that keeps `payload` on one valid JSON line."""
    if not payload:
        return b'"payload":null'
    if b"\n" not in payload and b"\r" not in payload:  # JSON whitespace, but it would end the line
        try:
            _check_json(payload)
        except msgspec.DecodeError:
            pass
        else:
            return b'"payload":' + payload
    try:
        return b'"payload_text":' + msgspec.json.encode(payload.decode())
    except UnicodeDecodeError:
        return b'"payload_base64":"' + base64.b64encode(payload) + b'"'


_check_json = msgspec.json.Decoder().decode
"""Parse a payload only to see that it is JSON (msgspec refuses NaN and Infinity, as JSON does)."""


class MqttSink:
    """Publishes with QoS 1 over MQTT 5, at most `window` messages unacknowledged."""

    def __init__(self, publisher: Publisher, queue: BrokerQueue | None = None) -> None:
        """Wrap a connected publisher; use `connect` to make one.

        `queue`, when given, holds readings back while the broker's consumers lag.
        """
        self._publisher = publisher
        self.queue = queue

    @property
    def window(self) -> int:
        """Return the in-flight limit in force."""
        return self._publisher.window

    @property
    def peak_inflight(self) -> int:
        """Return the most messages that were ever unacknowledged at once."""
        return self._publisher.peak

    @property
    def client_id(self) -> str:
        """Return the MQTT client id in use."""
        return self._publisher.client_id

    @property
    def reconnects(self) -> int:
        """Return how many times the connection was made again after it dropped."""
        return self._publisher.reconnects

    @classmethod
    async def connect(cls, settings: SimSettings, *, timeout_s: float = CONNECT_TIMEOUT_S,
                      stop: asyncio.Event | None = None) -> MqttSink:
        """Connect to the broker of `settings`, or raise SinkError saying why not.

        Unless URBANPULSE_SIM_MAX_QUEUED is 0, readings wait while the broker's consumers
        lag; setting `stop` ends such a wait.
        """
        username, password = settings.mqtt_username or None, settings.mqtt_password
        publisher = Publisher(settings.mqtt_host, settings.mqtt_port,
                              client_id=settings.sim_client_id or unique_client_id(),
                              username=username,
                              password=password.get_secret_value() if password and username
                              else None,
                              max_inflight=settings.sim_max_inflight)
        await publisher.connect(timeout_s)
        log.info("Connected to the MQTT broker at %s as client id '%s'.", publisher.address,
                 publisher.client_id)
        queue = None
        if settings.sim_max_queued:
            queue = await BrokerQueue.watch(settings, publisher.client_id, stop=stop)
        return cls(publisher, queue)

    async def send(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Publish with QoS 1, first waiting while the in-flight window is full."""
        await self.send_many([(topic, payload)], retain=retain)

    async def send_many(self, messages: Sequence[Message], *, retain: bool) -> None:
        """Publish with QoS 1 as many as the window takes, wait for room, and go on.

        Readings (not retained) first wait while the broker's consumers lag.
        """
        publisher = self._publisher
        if self.queue is not None and not retain:
            await self.queue.wait_for_room(len(messages))
        done = publisher.publish(messages, 0, retain)
        while done < len(messages):
            await publisher.wait_for_room()
            done = publisher.publish(messages, done, retain)

    async def close(self, *, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Wait until the broker acknowledged every message, then disconnect."""
        publisher = self._publisher
        try:
            await asyncio.wait_for(publisher.drain(), timeout_s)
        except TimeoutError as exc:
            raise SinkError(f"{publisher.inflight} messages were still unacknowledged by "
                            f"the MQTT broker at {publisher.address} after {timeout_s:g} s."
                            ) from exc
        finally:
            await publisher.close()
            if self.queue is not None:
                await self.queue.close()


def unique_client_id() -> str:
    """Return `urbanpulse-sim-<host>-<pid>-<random>`: no other simulator, here or elsewhere, has it.

    Two clients with one id take the broker's session from each other, so a
    simulator only shares an id when URBANPULSE_SIM_CLIENT_ID says so. The
    random part covers two sinks in one process and a reused PID.
    """
    host = re.sub(r"[^A-Za-z0-9-]+", "-", socket.gethostname())[:32].strip("-") or "host"
    return f"urbanpulse-sim-{host}-{os.getpid()}-{secrets.token_hex(2)}"


async def open_sink(settings: SimSettings, *, stop: asyncio.Event | None = None) -> Sink:
    """Return the sink `settings.sim_output` names: MQTT (None), stdout ('-') or 'jsonl:PATH'.

    `stop` ends an MQTT sink's wait for the broker's consumers.
    """
    output = settings.sim_output
    if output is None:
        return await MqttSink.connect(settings, stop=stop)
    if output == "-":
        return JsonlSink("-")
    path = output.removeprefix("jsonl:")
    if not path:
        raise ConfigError("Invalid configuration: setting URBANPULSE_SIM_OUTPUT 'jsonl:' "
                          "needs a file path after the colon.")
    return JsonlSink(Path(path))
