"""Operations: /health (the runbook's shape), /readiness (for load balancers), /metrics."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from importlib.metadata import version

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tria_graph import health as bot_health

from ..deps import BotDep
from ..errors import documented
from ..exceptions import NotReady
from ..metrics_access import metrics_access
from ..schemas import Health, Ready

VERSION = version("tria-graph")
router = APIRouter()


@router.get("/health", response_model=Health)
async def health(bot: BotDep) -> Health:
    """Answers while the bot loads (`starting`) and after it failed to (`unhealthy`)."""
    report = await bot.service.health() if bot.service else bot_health.not_loaded(failed=bool(bot.error))
    return Health(timestamp=datetime.now(timezone.utc), version=VERSION, **asdict(report))


@router.get("/readiness", response_model=Ready, responses=documented(503))
async def readiness(bot: BotDep) -> Ready:
    """200 once the graph, the database and the knowledge base are loaded."""
    if bot.service is None:
        raise NotReady(bot.error)
    return Ready(ready=True)


# METRICS_TOKEN bearer, or loopback clients only (server/metrics_access.py).
@router.get("/metrics", include_in_schema=False, dependencies=[Depends(metrics_access)])
async def metrics() -> Response:
    """Prometheus exposition: requests, cache hits and misses, node and checkpoint times."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
