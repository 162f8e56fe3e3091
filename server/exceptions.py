"""The exceptions the server raises itself (the library's are its own); errors.py maps
each to its answer."""

from __future__ import annotations

from tria_graph.auth import Forbidden


class BotNotLoaded(Exception):
    """A request came while the bot loads, or after loading failed (`reason`)."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason


class NotReady(BotNotLoaded):
    """The readiness probe's answer before the bot is loaded (its own entry in ERRORS:
    handlers are looked up by the exception's nearest class)."""


class CsrfFailed(Forbidden):
    """A cookie-authenticated POST without the matching X-CSRF-Token header."""


class StreamingDisabled(Exception):
    """POST /api/chatbot/stream with ENABLE_STREAMING=false."""


class MetricsUnauthorized(Exception):
    """GET /metrics without the METRICS_TOKEN bearer token (server/metrics_access.py)."""


class MetricsForbidden(Exception):
    """GET /metrics from a non-loopback client while no METRICS_TOKEN is set."""
