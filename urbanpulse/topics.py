"""The MQTT topic grammar (contract v1): the one place topics are built and parsed.

    {root}/readings/{district}/{kind}/{sensor}
    {root}/sensors/{district}/{kind}/{sensor}            retained birth
    {root}/truth/{district}/{kind}/{sensor}              injected ground truth
    {root}/truth/{district}/{kind}/{sensor}/clean        the sensor's clean signal
    {root}/alerts/{district}/{kind}/{sensor}/{rule}      retained while active
    {root}/notifications/{district}/{rule}               grouped pages, not retained
    {root}/rejected/{reason}
    {root}/commands/alerts/ack
    {root}/incidents/{district}/{incident_id}            retained while open
    {root}/commands/incidents/transition
    {root}/status/{service}/{instance}

Every name is lowercase `[a-z0-9-]`, 1 to 64 characters, so no name can inject
the separators or wildcards `/ + #`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from urbanpulse.errors import TopicError

DEFAULT_ROOT = "city"
NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
"""The grammar of one topic level, for validators that take a pattern (msgspec, FastAPI)."""
NAME = re.compile(NAME_PATTERN.replace("$", "\\Z"))
"""NAME_PATTERN compiled: `NAME.match(level)` is None for a level outside the grammar."""


class Channel(StrEnum):
    """The second topic level: what a message is."""

    READINGS = "readings"
    SENSORS = "sensors"
    TRUTH = "truth"
    ALERTS = "alerts"
    REJECTED = "rejected"
    COMMANDS = "commands"
    STATUS = "status"
    STATE = "state"
    NOTIFICATIONS = "notifications"
    INCIDENTS = "incidents"


ACK_COMMAND = "alerts/ack"
"""The command levels of an alert acknowledgement (`ack_topic`)."""
TRANSITION_COMMAND = "incidents/transition"
"""The command levels of an incident transition (`transition_topic`)."""
_COMMANDS = (ACK_COMMAND, TRANSITION_COMMAND)

_SENSOR_CHANNELS = (Channel.READINGS, Channel.SENSORS, Channel.TRUTH)
CLEAN = "clean"
"""The last level of a sensor's clean-signal topic, under its truth topic."""


def check_name(name: str, *, what: str = "name") -> str:
    """Return `name` when it may stand as one topic level, else raise TopicError."""
    if not isinstance(name, str) or not NAME.match(name):
        raise TopicError(
            f"Invalid {what} {name!r}: use 1-64 characters of lowercase a-z, 0-9 and '-', "
            "not starting or ending with '-'."
        )
    return name


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic. Fields a channel does not use are empty strings."""

    root: str
    channel: Channel
    district: str = ""
    kind: str = ""
    sensor: str = ""
    rule: str = ""
    reason: str = ""
    service: str = ""
    instance: str = ""
    clean: bool = False
    """A truth topic of the sensor's clean signal (`.../truth/{district}/{kind}/{sensor}/clean`)."""
    incident_id: str = ""
    command: str = ""
    """The levels after `commands/`: ACK_COMMAND or TRANSITION_COMMAND."""

    def __str__(self) -> str:
        return build(self)


def sensor_topic(channel: Channel, district: str, kind: str, sensor: str,
                 *, root: str = DEFAULT_ROOT) -> str:
    """Build a readings, sensors (birth) or truth topic."""
    if channel not in _SENSOR_CHANNELS:
        raise TopicError(f"Channel {channel.value!r} does not address one sensor.")
    return "/".join((
        check_name(root, what="topic root"), channel.value, check_name(district, what="district"),
        check_name(kind, what="kind"), check_name(sensor, what="sensor id"),
    ))


def reading_topic(district: str, kind: str, sensor: str, *, root: str = DEFAULT_ROOT) -> str:
    """Build the topic a sensor publishes its readings on."""
    return sensor_topic(Channel.READINGS, district, kind, sensor, root=root)


def clean_topic(district: str, kind: str, sensor: str, *, root: str = DEFAULT_ROOT) -> str:
    """Build the truth topic of a sensor's clean signal: its readings without sensor error."""
    return f"{sensor_topic(Channel.TRUTH, district, kind, sensor, root=root)}/{CLEAN}"


def clean_subscription(*, root: str = DEFAULT_ROOT, district: str = "+") -> str:
    """Build a filter for the clean signal of every sensor, optionally of one district."""
    return f"{subscription(Channel.TRUTH, root=root, district=district)}/{CLEAN}"


def alert_topic(district: str, kind: str, sensor: str, rule: str,
                *, root: str = DEFAULT_ROOT) -> str:
    """Build the retained alert-state topic of one (rule, sensor)."""
    return "/".join((
        check_name(root, what="topic root"), Channel.ALERTS.value,
        check_name(district, what="district"), check_name(kind, what="kind"),
        check_name(sensor, what="sensor id"), check_name(rule, what="rule name"),
    ))


def rejected_topic(reason: str, *, root: str = DEFAULT_ROOT) -> str:
    """Build the dead-letter topic for one rejection reason."""
    return f"{check_name(root, what='topic root')}/rejected/{check_name(reason, what='reason')}"


def ack_topic(*, root: str = DEFAULT_ROOT) -> str:
    """Build the topic the api sends alert acknowledgements on."""
    return f"{check_name(root, what='topic root')}/commands/alerts/ack"


def status_topic(service: str, instance: str, *, root: str = DEFAULT_ROOT) -> str:
    """Build the retained online/offline topic of one service instance."""
    return "/".join((check_name(root, what="topic root"), Channel.STATUS.value,
                     check_name(service, what="service"), check_name(instance, what="instance")))


def state_topic(district: str, *, root: str = DEFAULT_ROOT) -> str:
    """Build the retained topic of one district's latest sensor states."""
    return "/".join((check_name(root, what="topic root"), Channel.STATE.value,
                     check_name(district, what="district")))


def state_subscription(*, root: str = DEFAULT_ROOT) -> str:
    """Build the filter for every district's state topic."""
    return f"{check_name(root, what='topic root')}/{Channel.STATE.value}/+"


def notification_topic(district: str, rule: str, *, root: str = DEFAULT_ROOT) -> str:
    """Build the topic of the notifications (pages) of one (district, rule) group."""
    return "/".join((check_name(root, what="topic root"), Channel.NOTIFICATIONS.value,
                     check_name(district, what="district"), check_name(rule, what="rule name")))


def notification_subscription(*, root: str = DEFAULT_ROOT, district: str = "+") -> str:
    """Build a filter for the notifications of every rule, optionally of one district."""
    return "/".join((check_name(root, what="topic root"), Channel.NOTIFICATIONS.value,
                     _filter_level(district, "district"), "+"))


INCIDENTS = Channel.INCIDENTS.value
"""The second level of incident topics (`incident_topic`), the third of `transition_topic`."""


def incident_topic(district: str, incident_id: str, *, root: str = DEFAULT_ROOT) -> str:
    """Build the retained state topic of one incident: `{root}/incidents/{district}/{id}`."""
    return "/".join((check_name(root, what="topic root"), INCIDENTS,
                     check_name(district, what="district"),
                     check_name(incident_id, what="incident id")))


def incident_subscription(*, root: str = DEFAULT_ROOT, district: str = "+",
                          incident_id: str = "+") -> str:
    """Build a filter for incident topics, of one district or one incident (`+`: any)."""
    return "/".join((check_name(root, what="topic root"), INCIDENTS,
                     _filter_level(district, "district"),
                     _filter_level(incident_id, "incident id")))


def transition_topic(*, root: str = DEFAULT_ROOT) -> str:
    """Build the topic the api sends incident transitions on (`{root}/commands/incidents/…`)."""
    return f"{check_name(root, what='topic root')}/{Channel.COMMANDS.value}/{INCIDENTS}/transition"


def _filter_level(name: str, what: str) -> str:
    """Return a filter level: the one-level wildcard `+`, or a name check_name accepts."""
    return name if name == "+" else check_name(name, what=what)


def subscription(channel: Channel, *, root: str = DEFAULT_ROOT, district: str = "+") -> str:
    """Build a filter for every sensor topic of `channel`, optionally for one district."""
    if channel not in _SENSOR_CHANNELS:
        raise TopicError(f"Channel {channel.value!r} does not address one sensor.")
    return "/".join((check_name(root, what="topic root"), channel.value,
                     _filter_level(district, "district"), "+", "+"))


def alert_subscription(*, root: str = DEFAULT_ROOT, district: str = "+", kind: str = "+",
                       sensor: str = "+") -> str:
    """Build a filter for alert topics, narrowed by any of district, kind and sensor (`+`: any)."""
    return "/".join((check_name(root, what="topic root"), Channel.ALERTS.value,
                     _filter_level(district, "district"), _filter_level(kind, "kind"),
                     _filter_level(sensor, "sensor id"), "+"))


def status_subscription(service: str, *, root: str = DEFAULT_ROOT) -> str:
    """Build a filter for the retained status topics of every instance of `service`."""
    return "/".join((check_name(root, what="topic root"), Channel.STATUS.value,
                     check_name(service, what="service"), "+"))


def root_subscription(*, root: str = DEFAULT_ROOT) -> str:
    """Build a filter for every topic under `root`."""
    return f"{check_name(root, what='topic root')}/#"


def channel_prefix(channel: Channel, *, root: str = DEFAULT_ROOT) -> str:
    """Return the prefix every topic of `channel` starts with, for a `str.startswith` test."""
    return f"{check_name(root, what='topic root')}/{channel.value}/"


def sensor_topic_shape(channel: Channel, *, root: str = DEFAULT_ROOT) -> str:
    """Describe the sensor topics of `channel` for people: `city/readings/{district}/...`."""
    return channel_prefix(channel, root=root) + "{district}/{kind}/{sensor}"


def split_sensor_topic(topic: str, channel: Channel,
                       *, root: str = DEFAULT_ROOT) -> tuple[str, str, str] | None:
    """Return (district, kind, sensor) of a `channel` topic under `root`, else None.

    Only the shape is checked, not the names: the ingester calls this once per new
    topic and then checks the names the payload agrees with, so it stays one split.
    """
    levels = topic.split("/")
    if len(levels) != 5 or levels[0] != root or levels[1] != channel:
        return None
    return levels[2], levels[3], levels[4]


def build(topic: Topic) -> str:
    """Build the topic string a parsed Topic stands for."""
    match topic.channel:
        case Channel.TRUTH if topic.clean:
            return clean_topic(topic.district, topic.kind, topic.sensor, root=topic.root)
        case Channel.READINGS | Channel.SENSORS | Channel.TRUTH:
            return sensor_topic(topic.channel, topic.district, topic.kind, topic.sensor,
                                root=topic.root)
        case Channel.ALERTS:
            return alert_topic(topic.district, topic.kind, topic.sensor, topic.rule,
                               root=topic.root)
        case Channel.REJECTED:
            return rejected_topic(topic.reason, root=topic.root)
        case Channel.COMMANDS if topic.command == ACK_COMMAND:
            return ack_topic(root=topic.root)
        case Channel.COMMANDS if topic.command == TRANSITION_COMMAND:
            return transition_topic(root=topic.root)
        case Channel.COMMANDS:
            raise TopicError(f"Unknown command {topic.command!r}: the commands are "
                             f"{' and '.join(_COMMANDS)}.")
        case Channel.INCIDENTS:
            return incident_topic(topic.district, topic.incident_id, root=topic.root)
        case Channel.STATUS:
            return status_topic(topic.service, topic.instance, root=topic.root)
        case Channel.STATE:
            return state_topic(topic.district, root=topic.root)
        case Channel.NOTIFICATIONS:
            return notification_topic(topic.district, topic.rule, root=topic.root)
    raise TopicError(f"Unknown channel {topic.channel!r}.")  # pragma: no cover


def parse(topic: str) -> Topic:
    """Parse a topic string of contract v1, or raise TopicError saying what is wrong."""
    levels = topic.split("/")
    if len(levels) < 3:
        raise TopicError(f"Invalid topic {topic!r}: too few levels.")
    root, channel_name, *rest = levels
    check_name(root, what="topic root")
    try:
        channel = Channel(channel_name)
    except ValueError:
        raise TopicError(f"Invalid topic {topic!r}: unknown channel {channel_name!r}.") from None
    if channel is Channel.TRUTH and len(rest) == 4 and rest[3] == CLEAN:
        for level in rest[:3]:
            check_name(level, what="truth topic level")
        return Topic(root, channel, district=rest[0], kind=rest[1], sensor=rest[2], clean=True)
    expected = {
        Channel.READINGS: 3, Channel.SENSORS: 3, Channel.TRUTH: 3, Channel.ALERTS: 4,
        Channel.REJECTED: 1, Channel.COMMANDS: 2, Channel.STATUS: 2, Channel.STATE: 1,
        Channel.NOTIFICATIONS: 2, Channel.INCIDENTS: 2,
    }[channel]
    if len(rest) != expected:
        raise TopicError(
            f"Invalid topic {topic!r}: {channel.value} topics have {expected + 2} levels."
        )
    for level in rest:
        check_name(level, what=f"{channel.value} topic level")
    match channel:
        case Channel.READINGS | Channel.SENSORS | Channel.TRUTH:
            return Topic(root, channel, district=rest[0], kind=rest[1], sensor=rest[2])
        case Channel.ALERTS:
            return Topic(root, channel, district=rest[0], kind=rest[1], sensor=rest[2],
                         rule=rest[3])
        case Channel.REJECTED:
            return Topic(root, channel, reason=rest[0])
        case Channel.COMMANDS:
            command = "/".join(rest)
            if command not in _COMMANDS:
                raise TopicError(f"Invalid topic {topic!r}: the commands are "
                                 f"{' and '.join(_COMMANDS)}.")
            return Topic(root, channel, command=command)
        case Channel.STATUS:
            return Topic(root, channel, service=rest[0], instance=rest[1])
        case Channel.STATE:
            return Topic(root, channel, district=rest[0])
        case Channel.NOTIFICATIONS:
            return Topic(root, channel, district=rest[0], rule=rest[1])
        case Channel.INCIDENTS:
            return Topic(root, channel, district=rest[0], incident_id=rest[1])
    raise TopicError(f"Invalid topic {topic!r}.")  # pragma: no cover
