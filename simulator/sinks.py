"""Where simulated messages go: an MQTT broker, a JSON-lines file or stdout, or memory.

All three implement `Sink`. `MqttSink` publishes with QoS 1 and keeps at most a
window of messages unacknowledged: gmqtt stores every QoS 1 PUBLISH in its
persistent storage until the PUBACK arrives, so a storage subclass that counts
those messages is the in-flight counter, and `send` waits for a free slot. The
window is also capped below the broker's Receive Maximum, which gmqtt's packet
identifier allocator enforces by raising once it is reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import IO, Any, Protocol

import msgspec
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50
from gmqtt.mqtt.handler import MQTTConnectError
from gmqtt.storage import PersistentStorage

from simulator.errors import SinkError
from urbanpulse.errors import ConfigError
from urbanpulse.settings import SimSettings

SESSION_EXPIRY_S = 300
"""How long the broker keeps the session, so a reconnect resends unacknowledged messages."""

CONNECT_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 30.0


class Sink(Protocol):
    """A destination for topic and payload pairs."""

    async def send(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Send one message; may wait (backpressure) but never drops it."""
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

    async def close(self) -> None:
        """Mark the sink closed."""
        self.closed = True


class JsonlSink:
    """Writes `{"topic": T, "retain": R, "payload": P}` lines, P being the JSON payload verbatim.

    An empty payload (which clears a retained message) is written as `null`.
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
        try:
            self._file.write(b"".join((
                b'{"topic":', msgspec.json.encode(topic),
                b',"retain":true,"payload":' if retain else b',"retain":false,"payload":',
                payload or b"null", b"}\n",
            )))
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


class WindowStorage(PersistentStorage):  # type: ignore[misc]  # gmqtt is untyped
    """gmqtt's in-flight QoS store, counting the messages awaiting their PUBACK."""

    def __init__(self, window: int) -> None:
        super().__init__()
        self.window = window
        self.peak = 0
        self._mids: set[int] = set()
        self._slot_free = asyncio.Event()

    @property
    def inflight(self) -> int:
        """Return how many messages await their acknowledgement."""
        return len(self._mids)

    def push_message(self, mid: int, raw_package: bytes) -> None:
        """Store a sent packet (gmqtt calls this after each QoS > 0 publish)."""
        super().push_message(mid, raw_package)
        self._mids.add(mid)
        self.peak = max(self.peak, len(self._mids))

    def remove_message_by_mid(self, mid: int) -> None:
        """Forget an acknowledged packet and wake a sender waiting for a slot."""
        self._mids.discard(mid)
        super().remove_message_by_mid(mid)
        if len(self._mids) < self.window:
            self._slot_free.set()

    def clear(self) -> None:
        """Forget every packet (the broker started a new session)."""
        self._mids.clear()
        super().clear()
        self._slot_free.set()

    async def wait_for_slot(self) -> None:
        """Return once fewer than `window` messages are in flight."""
        while len(self._mids) >= self.window:
            self._slot_free.clear()
            await self._slot_free.wait()


class MqttSink:
    """Publishes with QoS 1 over MQTT 5, at most `window` messages unacknowledged."""

    def __init__(self, client: Any, storage: WindowStorage, address: str) -> None:
        """Wrap a connected gmqtt client; use `connect` to make one."""
        self._client = client
        self._storage = storage
        self._address = address

    @property
    def window(self) -> int:
        """Return the in-flight limit in force."""
        return self._storage.window

    @property
    def peak_inflight(self) -> int:
        """Return the most messages that were ever unacknowledged at once."""
        return self._storage.peak

    @classmethod
    async def connect(cls, settings: SimSettings, *,
                      timeout_s: float = CONNECT_TIMEOUT_S) -> MqttSink:
        """Connect to the broker of `settings`, or raise SinkError saying why not."""
        address = f"{settings.mqtt_host}:{settings.mqtt_port}"
        storage = WindowStorage(settings.sim_max_inflight)
        client = Client(settings.sim_client_id, persistent_storage=storage,
                        session_expiry_interval=SESSION_EXPIRY_S)

        def on_connect(_client: Any, _flags: int, _rc: int, properties: dict[str, Any]) -> None:
            # gmqtt can allocate one id fewer than the broker's Receive Maximum.
            receive_maximum = int(properties.get("receive_maximum", [65535])[0])
            storage.window = max(1, min(settings.sim_max_inflight, receive_maximum - 1))

        client.on_connect = on_connect
        if settings.mqtt_username:
            password = settings.mqtt_password
            client.set_auth_credentials(settings.mqtt_username,
                                        password.get_secret_value() if password else None)
        try:
            await asyncio.wait_for(client.connect(settings.mqtt_host, settings.mqtt_port,
                                                  version=MQTTv50), timeout_s)
        except MQTTConnectError as exc:
            await _abandon(client)
            reason = exc.message.removeprefix("Connection Refused: ")
            raise SinkError(f"The MQTT broker at {address} refused the connection: "
                            f"{reason}.") from exc
        except TimeoutError as exc:
            await _abandon(client)
            raise SinkError(f"The MQTT broker at {address} did not accept the connection "
                            f"within {timeout_s:g} s.") from exc
        except OSError as exc:
            await _abandon(client)
            raise SinkError(f"Cannot reach the MQTT broker at {address} ({exc}); check that it "
                            "runs and that URBANPULSE_MQTT_HOST and URBANPULSE_MQTT_PORT point "
                            "to it.") from exc
        return cls(client, storage, address)

    async def send(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Publish with QoS 1, first waiting while the in-flight window is full."""
        if self._storage.inflight >= self._storage.window:
            await self._storage.wait_for_slot()
        self._client.publish(topic, payload, qos=1, retain=retain)

    async def close(self, *, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Wait until the broker acknowledged every message, then disconnect."""
        try:
            await asyncio.wait_for(self._storage.wait_empty(), timeout_s)
        except TimeoutError as exc:
            raise SinkError(f"{self._storage.inflight} messages were still unacknowledged by "
                            f"the MQTT broker at {self._address} after {timeout_s:g} s.") from exc
        finally:
            await self._client.disconnect()


async def _abandon(client: Any) -> None:
    """Stop a client that failed to connect from reconnecting, and close its socket."""
    client.stop_reconnect()
    with contextlib.suppress(OSError, RuntimeError):  # the socket may already be gone
        await client.disconnect()


async def open_sink(settings: SimSettings) -> Sink:
    """Return the sink `settings.sim_output` names: MQTT (None), stdout ('-') or 'jsonl:PATH'."""
    output = settings.sim_output
    if output is None:
        return await MqttSink.connect(settings)
    if output == "-":
        return JsonlSink("-")
    path = output.removeprefix("jsonl:")
    if not path:
        raise ConfigError("Invalid configuration: setting URBANPULSE_SIM_OUTPUT 'jsonl:' "
                          "needs a file path after the colon.")
    return JsonlSink(Path(path))
