"""The incident topics: built only from names of the grammar, filters narrowed by district."""

from __future__ import annotations

import pytest

from urbanpulse.errors import TopicError
from urbanpulse.topics import incident_subscription, incident_topic, transition_topic


def test_incident_topics_and_filters() -> None:
    assert incident_topic("huangpu", "8d3ce8af5fe8cda9") == (
        "city/incidents/huangpu/8d3ce8af5fe8cda9")
    assert incident_subscription(root="t1") == "t1/incidents/+/+"
    assert incident_subscription(district="pudong") == "city/incidents/pudong/+"
    assert transition_topic(root="t1") == "t1/commands/incidents/transition"


@pytest.mark.parametrize("bad", ["+", "#", "a/b", "", "Pudong"])
def test_an_incident_topic_refuses_names_outside_the_grammar(bad: str) -> None:
    with pytest.raises(TopicError):
        incident_topic(bad, "8d3ce8af5fe8cda9")
    with pytest.raises(TopicError):
        incident_topic("huangpu", bad)
    if bad != "+":
        with pytest.raises(TopicError):
            incident_subscription(district=bad)
