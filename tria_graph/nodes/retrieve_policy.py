"""Retrieve the policy passages that answer the question."""

from __future__ import annotations

from langgraph.runtime import Runtime

from ..context import Context
from ..state import State


def retrieve_policy(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    passages = ctx.policy_kb.search(state["message"], k=ctx.settings.retrieval_k)
    if not passages or max(p["score"] for p in passages) < ctx.settings.retrieval_min_score:
        passages = []  # nothing relevant: the reply says so instead of quoting noise
    return {"passages": passages}
