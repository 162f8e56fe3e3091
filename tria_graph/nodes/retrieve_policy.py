"""Retrieve the policy passages that answer the question."""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from ..adapters.cache import POLICY, cache_key
from ..context import Context
from ..state import State


async def retrieve_policy(state: State, runtime: Runtime[Context]) -> dict:
    return await asyncio.to_thread(_retrieve, state, runtime.context)


def _retrieve(state: State, ctx: Context) -> dict:
    k = ctx.settings.retrieval_k
    key = cache_key(ctx.policy_kb.version, str(k), state["message"].strip().lower())
    passages = ctx.cache.get(POLICY, key)
    if passages is None:
        passages = ctx.policy_kb.search(state["message"], k=k)
        ctx.cache.set(POLICY, key, passages)
    if not passages or max(p["score"] for p in passages) < ctx.settings.retrieval_min_score:
        passages = []  # nothing relevant: the reply says so instead of quoting noise
    return {"passages": passages}
