"""One customer turn through the graph: the entry point the server and CLI share.

It binds a session to the customer who opened it, runs one turn per session at a
time (across replicas when locks are in Redis), writes both sides of the turn to the
transcript, and shapes the graph's final state into a `TurnResult`. Every turn enters
the graph the same way; the graph itself routes an answer to a pending draft.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Literal

from cachetools import TTLCache
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from .adapters.checkpoints import compact
from .adapters.session_locks import LocalSessionLocks
from .adapters.transcripts import TranscriptStore
from .context import Context
from .health import HealthReport, check_health
from .metrics import TURNS
from .state import new_turn
from .turn import TurnResult


class UnknownCustomer(Exception):
    """No outlet has this customer id."""


class SessionForbidden(Exception):
    """The session belongs to another customer."""


class SessionNotFound(Exception):
    """No conversation has this session id."""


# What `ChatService.stream` yields: ("started", None) once the customer may use the
# session and its lock is held, ("token", text) for each piece of the reply as the model writes it, and
# ("result", TurnResult) last.
StreamEvent = tuple[Literal["started", "token", "result"], object]


class ChatService:
    def __init__(
        self,
        graph: CompiledStateGraph,
        context: Context,
        *,
        saver: BaseCheckpointSaver | None = None,
        locks=None,
        transcripts: TranscriptStore | None = None,
    ) -> None:
        self.graph = graph
        self.context = context
        self.saver = saver  # to compact old checkpoints; None leaves them all
        self.locks = locks or LocalSessionLocks()
        self.transcripts = transcripts
        # Sessions this process has seen their owner use: a session never changes owner,
        # so the owner's next turns need no database read before the graph runs. (Kept a
        # few minutes, so a session pruned meanwhile is soon checked again.)
        self._owners: TTLCache[str, str] = TTLCache(maxsize=10_000, ttl=300)

    @property
    def chat_sessions(self):
        return self.context.chat_sessions

    def check_access(self, session_id: str, customer_id: str) -> None:
        """Raise unless the customer exists and owns (or may open) the session; mark
        the session active."""
        now = self.context.now()
        if self.chat_sessions.touch(session_id, customer_id, now):
            return  # the owner's next turn
        if self.context.orders.outlet(customer_id) is None:
            raise UnknownCustomer(customer_id)
        if self.chat_sessions.bind(session_id, customer_id, now) != customer_id:
            raise SessionForbidden(session_id)

    async def _authorize(self, session_id: str, customer_id: str) -> bool:
        """Raise unless the customer may use the session. True when the session was
        already known to be theirs (and is not yet marked active this turn)."""
        if self._owners.get(session_id) == customer_id:
            return True
        await asyncio.to_thread(self.check_access, session_id, customer_id)
        self._owners[session_id] = customer_id
        return False

    async def _arrive(self, session_id: str, customer_id: str, message: str, mark_active: bool) -> None:
        """The customer's message into the transcript (and the session marked active)."""
        if mark_active:
            await asyncio.gather(
                asyncio.to_thread(self.check_access, session_id, customer_id),
                self._record(session_id, HumanMessage(message)),
            )
        else:
            await self._record(session_id, HumanMessage(message))

    async def send(self, session_id: str, customer_id: str, message: str) -> TurnResult:
        """One turn; the finished reply."""
        result = None
        async for kind, value in self._turn(session_id, customer_id, message, stream=False):
            if kind == "result":
                result = value
        return result

    async def stream(self, session_id: str, customer_id: str, message: str) -> AsyncIterator[StreamEvent]:
        """One turn, yielding the reply's tokens as the model writes them (see StreamEvent).

        The result's reply is the reply: it equals the tokens joined, except when the
        grounding check rejected the model's text or the model failed midway, and then
        it is the offline reply. Without a model (or when it is not called) the whole
        reply comes as one token."""
        async for event in self._turn(session_id, customer_id, message, stream=True):
            yield event

    async def _turn(self, session_id: str, customer_id: str, message: str, stream: bool) -> AsyncIterator[StreamEvent]:
        started = time.perf_counter()
        known = await self._authorize(session_id, customer_id)
        config = {"configurable": {"thread_id": session_id}}
        async with self.locks.hold(session_id):
            yield "started", None  # access checked and the session's lock held
            # The customer's message is written to the transcript while the graph runs
            # (off the turn's critical path), and always before the reply is: if the
            # turn fails, the transcript still shows what was asked.
            arrival = asyncio.ensure_future(self._arrive(session_id, customer_id, message, known))
            try:
                state = {}
                async for event in self._run_graph(message, customer_id, session_id, config, stream):
                    if event[0] == "state":
                        state = event[1]
                    else:
                        yield event
            finally:
                await arrival
            result = TurnResult.from_state(session_id, state, (time.perf_counter() - started) * 1000)
            await self._record(
                session_id,
                AIMessage(result.reply, response_metadata={"intent": result.intent, "latency_ms": result.latency_ms}),
            )
            turns = state.get("summary", {}).get("turns", 0)
            if self.saver is not None and turns % self.context.settings.history_turns == 0:
                await compact(self.saver, session_id)
        TURNS.labels(result.intent).inc()
        yield "result", result

    async def _run_graph(
        self, message: str, customer_id: str, session_id: str, config: dict, stream: bool
    ) -> AsyncIterator[tuple[str, object]]:
        """The graph's turn: ("token", text) events when streaming, then ("state", final state).

        durability="exit": one checkpoint per turn, written when the turn ends, instead
        of one per step (5 checkpoints and 7 writes on a typical turn). A turn that dies
        midway leaves the previous checkpoint in place and is simply not answered; its
        side effects (order, invoice) are idempotent, so sending the message again is safe.
        """
        graph_input = {
            **new_turn(message),
            "messages": [HumanMessage(message)],
            "customer_id": customer_id,
            "session_id": session_id,
        }
        if not stream:
            yield "state", await self.graph.ainvoke(graph_input, config, context=self.context, durability="exit")
            return
        state, streamed = {}, False
        async for mode, chunk in self.graph.astream(
            graph_input, config, context=self.context, durability="exit", stream_mode=["messages", "values"]
        ):
            if mode == "values":
                state = chunk
                continue
            token, metadata = chunk
            # Only the reply writer's tokens (the classifier's JSON is never streamed),
            # not the finished messages nodes return.
            if isinstance(token, AIMessageChunk) and metadata.get("langgraph_node") == "respond" and token.text:
                streamed = True
                yield "token", token.text
        if not streamed and state.get("reply"):
            yield "token", state["reply"]
        yield "state", state

    async def _record(self, session_id: str, message: BaseMessage) -> None:
        if self.transcripts is not None:
            message.additional_kwargs["at"] = self.context.now().isoformat()
            await self.transcripts.append(session_id, [message])

    async def transcript(self, session_id: str, customer_id: str) -> list[BaseMessage]:
        """The session's whole conversation, for the customer who owns it."""
        owner = await asyncio.to_thread(self.chat_sessions.owner, session_id)
        if owner is None:
            raise SessionNotFound(session_id)
        if owner != customer_id:
            raise SessionForbidden(session_id)
        return await self.transcripts.messages(session_id) if self.transcripts else []

    async def health(self) -> HealthReport:
        """Its stores probed and its breakers read, for /health."""
        return await check_health(self.context)
