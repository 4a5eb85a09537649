"""The topic grammar: build and parse round-trip, and injection is refused."""

from __future__ import annotations

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
    assert topics.parse(topics.ack_topic(root=root)) == Topic(root, Channel.COMMANDS)


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
])
def test_parse_refuses_malformed_topics(text: str) -> None:
    with pytest.raises(TopicError):
        topics.parse(text)


def test_subscription_filters() -> None:
    assert topics.subscription(Channel.READINGS) == "city/readings/+/+/+"
    assert topics.subscription(Channel.SENSORS, root="x", district="pudong") == \
        "x/sensors/pudong/+/+"
