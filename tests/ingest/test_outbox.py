"""The outbox never asks gmqtt for more packet ids than it has, and loses nothing meanwhile."""

from __future__ import annotations

from typing import Any

from ingest.outbox import Outbox


class _IdLimitedClient:
    """Stands in for gmqtt: raises OverflowError past `ids` unacknowledged publishes."""

    def __init__(self, outbox: Outbox, ids: int) -> None:
        self.outbox, self.ids, self.next_mid = outbox, ids, 1
        self.inflight: dict[int, tuple[str, bytes]] = {}

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool, **_: Any) -> None:
        if len(self.inflight) >= self.ids:
            raise OverflowError("All ids has already used.")
        mid, self.next_mid = self.next_mid, self.next_mid + 1
        self.inflight[mid] = (topic, payload)
        self.outbox.storage.push_message(mid, payload)

    def puback(self, mid: int) -> None:
        del self.inflight[mid]
        self.outbox.storage.remove_message_by_mid(mid)


def test_outbox_waits_for_ids_and_acknowledges_each_token_once() -> None:
    outbox = Outbox(window=1000)
    client = _IdLimitedClient(outbox, ids=5)
    acked: list[object] = []
    outbox.attach(client, acked.extend)
    outbox.connected(broker_receive_maximum=1000)
    for n in range(50):
        outbox.publish(f"t/{n}", b"x", retain=False, token=n)
    assert len(client.inflight) == 5
    assert outbox.queued == 45
    while client.inflight:
        client.puback(min(client.inflight))
    assert acked == list(range(50))
    assert outbox.queued == 0


def test_outbox_window_keeps_a_margin_below_the_broker_receive_maximum() -> None:
    outbox = Outbox(window=1000)
    client = _IdLimitedClient(outbox, ids=10_000)
    outbox.attach(client, lambda tokens: None)
    outbox.connected(broker_receive_maximum=100)
    for n in range(200):
        outbox.publish(f"t/{n}", b"x", retain=False)
    assert len(client.inflight) == 84
