"""One worker's record of the acknowledgements it is sending and has sent.

InfluxDB shows an acknowledgement only once the ingester has written it, about
a second after the api's 200. Without a record of its own, a second ack in
that second would find the alert still firing and be sent as well. The ledger
lets one ack per alert run at a time (a second one is refused at once), and
remembers each acknowledged state until InfluxDB shows the alert has moved on.
It lives in one process: docs/alerts.md says what several workers do.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from api.models import Alert

LEDGER_LIMIT: Final = 10_000
"""Acknowledged states remembered at most; the oldest go first (InfluxDB has them by then)."""


class AckLedger:
    """Which alerts this worker is acknowledging now, and what it acknowledged."""

    def __init__(self, limit: int = LEDGER_LIMIT) -> None:
        self._busy: set[str] = set()
        self._acked: OrderedDict[str, Alert] = OrderedDict()
        self._limit = limit

    def claim(self, alert_id: str) -> bool:
        """Claim `alert_id` for one acknowledgement; False when one is already running.

        Check and claim happen without an `await` between them, so two requests
        served by one event loop cannot both claim.
        """
        if alert_id in self._busy:
            return False
        self._busy.add(alert_id)
        return True

    def release(self, alert_id: str) -> None:
        """End the acknowledgement claimed for `alert_id`."""
        self._busy.discard(alert_id)

    def acked(self, current: Alert) -> Alert | None:
        """Return the acknowledged state this worker saw for `current`'s episode, if InfluxDB
        does not show anything newer yet; forget it once InfluxDB has moved on."""
        acked = self._acked.get(current.alert_id)
        if acked is None:
            return None
        if acked.since != current.since or current.ts > acked.ts:
            del self._acked[current.alert_id]  # a later episode or change: InfluxDB caught up
            return None
        return acked

    def record(self, acked: Alert) -> None:
        """Remember an acknowledged state the ingester confirmed."""
        self._acked[acked.alert_id] = acked
        self._acked.move_to_end(acked.alert_id)
        while len(self._acked) > self._limit:
            self._acked.popitem(last=False)
