"""What the ingester publishes (dead letters, status), inside the broker's in-flight window.

gmqtt allocates one packet id per unacknowledged QoS 1 PUBLISH and raises
`OverflowError` past the broker's Receive Maximum, so a burst of dead letters
must queue here instead. A dead letter carries the token of the message it
replaces: that message is acknowledged only once the broker has acknowledged
its dead letter, so a crash in between loses neither.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from gmqtt.storage import PersistentStorage

Ack = Callable[[Sequence[object]], None]


class _Outgoing(NamedTuple):
    topic: str
    payload: bytes
    retain: bool
    token: object | None


class _AckedStorage(PersistentStorage):  # type: ignore[misc]  # gmqtt is untyped
    """gmqtt's in-flight store, reporting each PUBACK and the id of each PUBLISH."""

    def __init__(self, on_acked: Callable[[int], None], on_cleared: Callable[[], None]) -> None:
        super().__init__()
        self._on_acked = on_acked
        self._on_cleared = on_cleared
        self.last_mid = 0

    def push_message(self, mid: int, raw_package: bytes) -> None:
        super().push_message(mid, raw_package)
        self.last_mid = mid

    def remove_message_by_mid(self, mid: int) -> None:
        super().remove_message_by_mid(mid)
        self._on_acked(mid)

    def clear(self) -> None:
        """gmqtt drops its in-flight messages when the broker lost our session: requeue them."""
        super().clear()
        self._on_cleared()


class Outbox:
    """Publishes at QoS 1 with at most `window` messages unacknowledged by the broker."""

    def __init__(self, window: int) -> None:
        self.storage = _AckedStorage(self._acked, self._requeue)
        self._window = window
        self._client: Any = None
        self._connected = False
        self._ack: Ack = lambda tokens: None
        self._queue: deque[_Outgoing] = deque()
        self._waiting: dict[int, _Outgoing] = {}

    def attach(self, client: Any, ack: Ack) -> None:
        """Publish through `client`; hand tokens to `ack` once their messages are safe."""
        self._client = client
        self._ack = ack

    @property
    def queued(self) -> int:
        """Messages waiting for room in the window."""
        return len(self._queue)

    def connected(self, broker_receive_maximum: int) -> None:
        """Fit the window to the broker's Receive Maximum and resume publishing."""
        # gmqtt allocates at most Receive Maximum − 1 ids, SUBSCRIBEs included: keep a margin.
        self._window = max(1, min(self._window, broker_receive_maximum - 16))
        self._connected = True
        self._pump()

    def disconnected(self) -> None:
        """Hold new messages until the next connection (gmqtt resends those in flight)."""
        self._connected = False

    def publish(self, topic: str, payload: bytes, *, retain: bool,
                token: object | None = None) -> None:
        """Queue one QoS 1 message; `token` is acknowledged when the broker has it."""
        self._queue.append(_Outgoing(topic, payload, retain, token))
        self._pump()

    async def drain(self) -> None:
        """Wait until every queued and in-flight message is acknowledged by the broker."""
        while (self._queue or self._waiting) and self._connected:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    def _pump(self) -> None:
        while self._queue and len(self._waiting) < self._window and self._connected:
            outgoing = self._queue[0]
            try:
                self._client.publish(outgoing.topic, outgoing.payload, qos=1,
                                     retain=outgoing.retain)
            except OverflowError:  # gmqtt's ids are shared with SUBSCRIBE: wait for an ack
                return
            self._queue.popleft()
            self._waiting[self.storage.last_mid] = outgoing

    def _acked(self, mid: int) -> None:
        outgoing = self._waiting.pop(mid, None)
        if outgoing is not None and outgoing.token is not None:
            self._ack((outgoing.token,))
        self._pump()

    def _requeue(self) -> None:
        self._queue.extendleft(reversed(self._waiting.values()))
        self._waiting.clear()
