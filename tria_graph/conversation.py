"""One customer turn through the graph: the entry point the server and CLI share.

It binds a session to the customer who opened it, resumes a pending order
confirmation when there is one, serialises turns of one session, and shapes the
graph's final state into a `TurnResult`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field

from langchain_core.messages import HumanMessage
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from .context import Context
from .state import new_turn


class UnknownCustomer(Exception):
    """No outlet has this customer id."""


class SessionForbidden(Exception):
    """The session belongs to another customer."""


@dataclass
class TurnResult:
    session_id: str
    reply: str
    intent: str
    confidence: float
    sources: list[dict] = field(default_factory=list)
    order: dict | None = None
    invoice: dict | None = None
    pending_confirmation: bool = False
    escalated: bool = False
    escalation: dict | None = None
    latency_ms: float = 0.0


class ChatService:
    def __init__(self, graph: CompiledStateGraph, context: Context) -> None:
        self.graph = graph
        self.context = context
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[session_id] = lock
        return lock

    def check_access(self, session_id: str, customer_id: str) -> None:
        """Raise unless the customer exists and owns (or may open) the session."""
        repo = self.context.repository
        if repo.outlet(customer_id) is None:
            raise UnknownCustomer(customer_id)
        owner = repo.bind_session(session_id, customer_id, self.context.now())
        if owner != customer_id:
            raise SessionForbidden(session_id)

    async def send(self, session_id: str, customer_id: str, message: str) -> TurnResult:
        started = time.perf_counter()
        await asyncio.to_thread(self.check_access, session_id, customer_id)
        config = {"configurable": {"thread_id": session_id}}
        async with self._lock(session_id):
            snapshot = await self.graph.aget_state(config)
            if snapshot.interrupts:
                graph_input = Command(resume=message)
            else:
                graph_input = {
                    **new_turn(message),
                    "messages": [HumanMessage(message)],
                    "customer_id": customer_id,
                    "session_id": session_id,
                }
            # durability="exit": one checkpoint per turn instead of one per step. A turn
            # that dies midway is simply not answered; its only side effects (order,
            # invoice) are idempotent, so re-sending the message is safe.
            state = await self.graph.ainvoke(
                graph_input, config, context=self.context, durability="exit"
            )
        return to_result(session_id, state, (time.perf_counter() - started) * 1000)


def to_result(session_id: str, state: dict, latency_ms: float) -> TurnResult:
    draft = state.get("draft")
    return TurnResult(
        session_id=session_id,
        reply=state.get("reply", ""),
        intent=state.get("intent", "out_of_scope"),
        confidence=float(state.get("confidence", 0.0)),
        sources=state.get("sources", []),
        order=state.get("order"),
        invoice=state.get("invoice"),
        pending_confirmation=bool(draft and draft.get("status") == "awaiting_confirmation"),
        escalated=state.get("escalation") is not None,
        escalation=state.get("escalation"),
        latency_ms=round(latency_ms, 2),
    )
