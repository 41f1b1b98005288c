"""The topic registry: every feed served at /ws/{topic} and /api/stream/{topic}."""

from __future__ import annotations

from web.topics.base import Start, Topic, TopicContext, TopicRegistry
from web.topics.events import EventsTopic
from web.topics.orders import OrdersTopic
from web.topics.robots import RobotsTopic
from web.topics.telemetry import TelemetryTopic
from web.topics.todos import TodosTopic

__all__ = ["Start", "Topic", "TopicContext", "TopicRegistry", "default_topics"]


def default_topics() -> TopicRegistry:
    """Every topic the web tier serves."""
    reg = TopicRegistry()
    for topic in (RobotsTopic(), TelemetryTopic(), EventsTopic(), TodosTopic(), OrdersTopic()):
        reg.register(topic)
    return reg
