"""The topic grammar: build and parse round-trip, and injection is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from urbanpulse import topics
from urbanpulse.errors import TopicError
from urbanpulse.topics import Channel, Topic

names = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?\Z")


@given(root=names, district=names, kind=names, sensor=names,
       channel=st.sampled_from([Channel.READINGS, Channel.SENSORS, Channel.TRUTH]))
def test_sensor_topics_round_trip(root: str, district: str, kind: str, sensor: str,
                                  channel: Channel) -> None:
    text = topics.sensor_topic(channel, district, kind, sensor, root=root)
    parsed = topics.parse(text)
    assert parsed == Topic(root, channel, district=district, kind=kind, sensor=sensor)
    assert str(parsed) == text


@given(root=names, district=names, kind=names, sensor=names, rule=names)
def test_alert_topics_round_trip(root: str, district: str, kind: str, sensor: str,
                                 rule: str) -> None:
    text = topics.alert_topic(district, kind, sensor, rule, root=root)
    assert topics.parse(text) == Topic(root, Channel.ALERTS, district=district, kind=kind,
                                       sensor=sensor, rule=rule)


@given(root=names, reason=names, service=names, instance=names)
def test_other_topics_round_trip(root: str, reason: str, service: str, instance: str) -> None:
    assert topics.parse(topics.rejected_topic(reason, root=root)).reason == reason
    status = topics.parse(topics.status_topic(service, instance, root=root))
    assert (status.service, status.instance) == (service, instance)
    ack = topics.parse(topics.ack_topic(root=root))
    assert ack == Topic(root, Channel.COMMANDS, command=topics.ACK_COMMAND)
    assert str(ack) == topics.ack_topic(root=root)


@given(root=names, district=names, incident_id=st.from_regex(r"\A[0-9a-f]{16}\Z"))
def test_incident_topics_round_trip(root: str, district: str, incident_id: str) -> None:
    text = topics.incident_topic(district, incident_id, root=root)
    parsed = topics.parse(text)
    assert parsed == Topic(root, Channel.INCIDENTS, district=district, incident_id=incident_id)
    assert str(parsed) == text
    transition = topics.parse(topics.transition_topic(root=root))
    assert transition == Topic(root, Channel.COMMANDS, command=topics.TRANSITION_COMMAND)
    assert str(transition) == topics.transition_topic(root=root)


@given(root=names, district=names, incident_id=names)
def test_incident_filters_match_the_topics_they_narrow_to(root: str, district: str,
                                                          incident_id: str) -> None:
    topic = topics.incident_topic(district, incident_id, root=root).split("/")
    for narrowed in ({}, {"district": district},
                     {"district": district, "incident_id": incident_id}):
        levels = topics.incident_subscription(root=root, **narrowed).split("/")
        assert len(levels) == len(topic)
        assert all(level in ("+", name) for level, name in zip(levels, topic, strict=True))


def test_a_command_topic_of_no_known_command_cannot_be_built() -> None:
    with pytest.raises(TopicError, match="alerts/ack and incidents/transition"):
        str(Topic("city", Channel.COMMANDS, command="alerts/nack"))


@given(bad=st.text(min_size=1, max_size=12).filter(
    lambda s: any(c in s for c in "/+#") or s != s.lower() or s.strip("-") != s))
def test_names_that_could_inject_are_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        topics.reading_topic(bad, "air", "air-1")
    with pytest.raises(TopicError):
        topics.reading_topic("pudong", "air", bad)


@pytest.mark.parametrize("text", [
    "city/readings/pudong/air", "city/readings/pudong/air/a/b", "city/unknown/a/b/c",
    "city/readings/pudong/air/+", "city/readings/#", "City/readings/a/b/c",
    "city/commands/alerts/nack", "", "city",
    # incidents: two levels after the channel, names in the grammar, one command of theirs
    "city/incidents/pudong", "city/incidents/pudong/64684e1d87f9dd19/x",
    "city/incidents/pudong/+", "city/incidents/Pudong/64684e1d87f9dd19",
    "city/commands/incidents/close", "city/commands/incidents", "city/commands/alerts",
])
def test_parse_refuses_malformed_topics(text: str) -> None:
    with pytest.raises(TopicError):
        topics.parse(text)


def test_subscription_filters() -> None:
    assert topics.subscription(Channel.READINGS) == "city/readings/+/+/+"
    assert topics.subscription(Channel.SENSORS, root="x", district="pudong") == \
        "x/sensors/pudong/+/+"


def test_alert_status_and_root_filters() -> None:
    assert topics.alert_subscription() == "city/alerts/+/+/+/+"
    assert topics.alert_subscription(root="x", district="pudong", kind="air") == \
        "x/alerts/pudong/air/+/+"
    assert topics.alert_subscription(sensor="air-1") == "city/alerts/+/+/air-1/+"
    assert topics.status_subscription("ingest") == "city/status/ingest/+"
    assert topics.root_subscription(root="x") == "x/#"
    with pytest.raises(TopicError):
        topics.subscription(Channel.ALERTS)


@given(root=names, district=names, kind=names, sensor=names, rule=names)
def test_alert_filters_match_the_topics_they_narrow_to(root: str, district: str, kind: str,
                                                       sensor: str, rule: str) -> None:
    topic = topics.alert_topic(district, kind, sensor, rule, root=root).split("/")
    for narrowed in ({}, {"district": district}, {"district": district, "kind": kind},
                     {"district": district, "kind": kind, "sensor": sensor}):
        levels = topics.alert_subscription(root=root, **narrowed).split("/")
        assert len(levels) == len(topic)
        assert all(level in ("+", name) for level, name in zip(levels, topic, strict=True))


@given(root=names, service=names, instance=names)
def test_status_filter_matches_the_status_topics(root: str, service: str,
                                                 instance: str) -> None:
    topic = topics.status_topic(service, instance, root=root)
    prefix, _, wildcard = topics.status_subscription(service, root=root).rpartition("/")
    assert wildcard == "+"
    assert topic.rpartition("/") == (prefix, "/", instance)


@given(root=names, district=names, kind=names, sensor=names,
       channel=st.sampled_from([Channel.READINGS, Channel.SENSORS, Channel.TRUTH]))
def test_split_sensor_topic_round_trips(root: str, district: str, kind: str, sensor: str,
                                        channel: Channel) -> None:
    text = topics.sensor_topic(channel, district, kind, sensor, root=root)
    assert text.startswith(topics.channel_prefix(channel, root=root))
    assert topics.split_sensor_topic(text, channel, root=root) == (district, kind, sensor)
    other = Channel.TRUTH if channel is not Channel.TRUTH else Channel.READINGS
    assert topics.split_sensor_topic(text, other, root=root) is None
    assert topics.split_sensor_topic(text, channel, root=root + "x") is None
    assert topics.split_sensor_topic(text + "/extra", channel, root=root) is None


def test_sensor_topic_shape_names_the_levels() -> None:
    assert topics.sensor_topic_shape(Channel.READINGS) == \
        "city/readings/{district}/{kind}/{sensor}"


@given(bad=st.text(min_size=1, max_size=12).filter(
    lambda s: s != "+" and (any(c in s for c in "/+#") or s != s.lower() or s.strip("-") != s)))
def test_filters_refuse_names_that_could_inject(bad: str) -> None:
    builds: list[Callable[[], str]] = [
        lambda: topics.alert_subscription(district=bad),
        lambda: topics.alert_subscription(kind=bad),
        lambda: topics.alert_subscription(sensor=bad),
        lambda: topics.alert_subscription(root=bad),
        lambda: topics.status_subscription(bad),
        lambda: topics.status_subscription("ingest", root=bad),
        lambda: topics.root_subscription(root=bad),
        lambda: topics.channel_prefix(Channel.SENSORS, root=bad),
        lambda: topics.subscription(Channel.READINGS, district=bad),
    ]
    for build in builds:
        with pytest.raises(TopicError):
            build()
