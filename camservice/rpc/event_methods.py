"""``subscribe_events``, ``unsubscribe_events``, ``get_subscription_stats``."""
from __future__ import annotations

from camservice.auth.roles import Role
from camservice.events import TOPICS
from camservice.rpc.dispatcher import Call
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.rpc.notifier import Notifier
from camservice.rpc.params import CAMERA_ID

__all__ = ["EventMethods"]

_TOPIC_LIST = {
    "type": "array",
    "items": {"type": "string", "enum": sorted(TOPICS)},
    "minItems": 1,
    "maxItems": len(TOPICS),
}


class EventMethods:
    """A connection choosing which events it receives."""

    def __init__(self, notifier: Notifier):
        self._notifier = notifier

    def specs(self) -> list[MethodSpec]:
        return [
            MethodSpec(
                "subscribe_events",
                self.subscribe_events,
                Role.viewer,
                object_schema(
                    {"topics": _TOPIC_LIST, "filters": object_schema({"device": CAMERA_ID})},
                    ["topics"],
                ),
                summary="Receive only the given topics (added to earlier subscriptions), optionally for one camera.",
                example={"topics": ["camera.connected"]},
            ),
            MethodSpec(
                "unsubscribe_events",
                self.unsubscribe_events,
                Role.viewer,
                object_schema({"topics": _TOPIC_LIST}),
                summary="Stop receiving the given topics (all when none are given).",
            ),
            MethodSpec(
                "get_subscription_stats",
                self.get_subscription_stats,
                Role.viewer,
                summary="Subscription counts over all clients, and this client's topics.",
            ),
        ]

    def subscribe_events(self, call: Call, params: dict) -> dict:
        session = call.session
        current = session.topics or frozenset()
        session.topics = current | frozenset(params["topics"])
        if "filters" in params:
            session.device_filter = params["filters"].get("device")
        filters = {"device": session.device_filter} if session.device_filter else {}
        return {"subscribed": True, "topics": sorted(session.topics), "filters": filters}

    def unsubscribe_events(self, call: Call, params: dict) -> dict:
        session = call.session
        before = session.client_topics
        if "topics" in params:
            removed = before & frozenset(params["topics"])
            session.topics = before - removed
        else:
            removed = before
            session.topics = frozenset()
            session.device_filter = None
        return {"unsubscribed": True, "topics": sorted(removed)}

    def get_subscription_stats(self, call: Call, params: dict) -> dict:
        stats = self._notifier.stats()
        return {
            "global_stats": {
                "total_subscriptions": sum(stats["topic_counts"].values()),
                "active_clients": stats["authenticated_clients"],
                "topic_counts": stats["topic_counts"],
            },
            "client_topics": sorted(call.session.client_topics),
            "client_id": call.session.conn_id,
        }
