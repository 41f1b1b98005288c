"""The topic registry: every feed served at /ws/{topic} and /api/stream/{topic}."""

from __future__ import annotations

from web.topics.base import Start, Topic, TopicContext, TopicRegistry
from web.topics.events import EventsTopic
from web.topics.robots import RobotsTopic
from web.topics.telemetry import TelemetryTopic
from web.topics.todos import TodosTopic

__all__ = ["Start", "Topic", "TopicContext", "TopicRegistry", "default_topics"]


def default_topics() -> TopicRegistry:
    """The topics of issue 4; `orders` (issue 5) adds itself with ``registry.register``."""
    reg = TopicRegistry()
    for topic in (RobotsTopic(), TelemetryTopic(), EventsTopic(), TodosTopic()):
        reg.register(topic)
    return reg
