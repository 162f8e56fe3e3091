"""Who may read GET /metrics.

With METRICS_TOKEN set: a request carrying `Authorization: Bearer <METRICS_TOKEN>`,
from anywhere (compared in constant time); anything else is 401 with
`WWW-Authenticate: Bearer`. Without a token: loopback clients only (127.0.0.0/8, ::1),
anyone else 403. The client is the ASGI scope's (uvicorn's peer, or the client a
trusted proxy names in X-Forwarded-For: FORWARDED_ALLOW_IPS), so behind nginx it is
not loopback: deployments behind a proxy (docker-compose.yml) set METRICS_TOKEN.
Refusals are counted in `tria_metrics_refused_total{reason}`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from fastapi import Request

from tria_graph.config import get_settings
from tria_graph.metrics import METRICS_REFUSED

from .exceptions import MetricsForbidden, MetricsUnauthorized

log = logging.getLogger("tria.server")


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8 or ::1 (also as ::ffff:127.x); a name such as "testclient" is not."""
    try:
        address = ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def metrics_access(request: Request) -> None:
    expected = get_settings().metrics_token
    client = request.client.host if request.client else None
    if expected:
        given = bearer_token(request)
        if given is not None and hmac.compare_digest(given.encode(), expected.encode()):
            return
        reason = "missing_token" if given is None else "wrong_token"
        METRICS_REFUSED.labels(reason).inc()
        log.warning("GET /metrics refused (%s) from %s", reason, client)
        raise MetricsUnauthorized()
    if not is_loopback(client):
        METRICS_REFUSED.labels("not_loopback").inc()
        log.warning("GET /metrics refused (not loopback, no METRICS_TOKEN) from %s", client)
        raise MetricsForbidden()
