"""Administrators' routes: /api/admin/*. (Staff routes will live under /api/staff/.)"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from tria_graph.auth.audit import AuditEntry

from ..deps import AdminDep, AuthenticatorDep
from ..errors import documented

router = APIRouter(prefix="/api/admin", responses=documented(401, 403, 422, 503))


@router.get("/audit", response_model=list[AuditEntry])
async def audit(
    _admin: AdminDep,
    auth: AuthenticatorDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=40)] = None,
) -> list[AuditEntry]:
    """The newest audit entries: logins, tokens issued, API keys, orders placed and cancelled."""
    entries = await asyncio.to_thread(auth.audit.entries, limit, action)
    return entries
