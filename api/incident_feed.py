"""The api's MQTT side of incidents: a feed of signed incident states, and transitions.

As for alerts (`api.broker`), every use opens its own clean-session
connection with a one-off client id: one per open incident stream and one per
transition. A feed takes only states the ingester signed
(`URBANPULSE_ALERT_KEY`) and published on the incident's own topic; anything
else is logged and dropped. A transition is a signed, stamped command with a
nonce (`urbanpulse.signing.signed_transition`), so the ingester can refuse
forged, stale and replayed ones.
"""

from __future__ import annotations

import logging
import time

import msgspec

from api.broker import SignedFeed
from api.errors import BrokerUnavailableError, TransitionTimeoutError
from urbanpulse.messages import Incident, IncidentStage, encoder, incident_decoder
from urbanpulse.settings import ApiSettings
from urbanpulse.signing import is_signed_incident, signed_transition
from urbanpulse.topics import incident_topic, transition_topic

logger = logging.getLogger(__name__)


class IncidentFeed(SignedFeed[Incident]):
    """A feed of the incident states the ingester signed, each on its incident's own topic."""

    noun = "incident"

    def __init__(self, settings: ApiSettings, topic_filter: str, *,
                 purpose: str = "incidents") -> None:
        super().__init__(settings, topic_filter, purpose=purpose)

    def accept(self, topic: str, payload: bytes) -> Incident | None:
        """Return a well-formed, signed incident state on its own topic, else None (logged)."""
        try:
            incident = incident_decoder.decode(payload)
        except msgspec.DecodeError as exc:
            logger.warning("ignored a malformed incident on %s (%s): %.200r", topic, exc,
                           payload)
            return None
        if self._key is None or not is_signed_incident(incident, self._key) or topic != \
                incident_topic(incident.district, incident.incident_id,
                               root=self._settings.topic_root):
            logger.warning("ignored an incident state on %s without a valid signature of the "
                           "ingester, or not on its own topic: %.200r", topic, payload)
            return None
        return incident


async def move(settings: ApiSettings, current: Incident, *, to: IncidentStage, by: str,
               note: str) -> Incident:
    """Send a transition of `current` and return the first transition the ingester publishes.

    Subscribes to the incident's own topic first, then publishes the signed
    command at QoS 1, and waits at most `settings.api_ack_timeout_s` for a state
    newer than `current` that a transition made. That may be another operator's,
    which got there first: the caller compares `stage`, `by` and `note`. The
    settings must hold an alert key.

    Raises:
        BrokerUnavailableError: the broker is unreachable or dropped the connection.
        TransitionTimeoutError: no transition was published in time.
    """
    root = settings.topic_root
    key = settings.alert_key_bytes()
    if key is None:
        raise ValueError("move() needs settings with an alert key")
    command = signed_transition(current.incident_id, to, by, note, key=key,
                                now_ms=int(time.time() * 1000))
    timeout = settings.api_ack_timeout_s
    topic = incident_topic(current.district, current.incident_id, root=root)
    async with IncidentFeed(settings, topic, purpose="transition") as feed:
        feed.publish(transition_topic(root=root), encoder.encode(command))
        try:
            state = await feed.first(lambda state: state.ts > current.ts
                                     and state.change == "transition", timeout_s=timeout)
            if state is not None:
                return state
        except TimeoutError:
            raise TransitionTimeoutError(
                f"The ingester did not confirm moving incident {current.incident_id} to "
                f"{to} within {timeout:g} s; it may be down or busy. The command stays "
                "queued for it a while, so look at the incident again later.") from None
    raise BrokerUnavailableError(
        f"The MQTT broker at {settings.mqtt_host}:{settings.mqtt_port} dropped the connection "
        f"while the api waited for incident {current.incident_id} to move.")
