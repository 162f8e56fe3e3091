"""The shape of one answered turn: what ChatService returns, the HTTP API sends and
the evaluation suite reads. Defined once, here.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from .domain.intents import Intent
from .domain.records import Escalation, Invoice, Order, Source


class TurnResult(BaseModel):
    """One customer message, answered. Money is a Decimal (a decimal string in JSON)."""

    session_id: str
    reply: str = Field(description="What the bot says to the customer.")
    intent: Intent = Field(description="What the message asked for.")
    confidence: float = Field(description="How sure the classifier was, 0 to 1.")
    sources: list[Source] = Field(default_factory=list, description="Policy sections the reply states.")
    order: Order | None = Field(default=None, description="The order this turn was about.")
    invoice: Invoice | None = Field(default=None, description="The invoice this turn was about.")
    pending_confirmation: bool = Field(default=False, description="A draft order waits for yes or no.")
    escalated: bool = Field(default=False, description="A person was asked to step in.")
    escalation: Escalation | None = Field(default=None, description="The escalation opened this turn.")
    latency_ms: float = 0.0
    llm_calls: int = Field(default=0, description="Language-model calls this turn (0 offline).")
    llm_tokens: int = Field(default=0, description="Their tokens, prompt and completion.")
    degraded: bool = Field(
        default=False, description="The model failed or its circuit breaker was open; answered offline."
    )

    @classmethod
    def from_state(cls, session_id: str, state: dict, latency_ms: float) -> TurnResult:
        """The result of a turn from the graph's final state."""
        draft = state.get("draft")
        return cls(
            session_id=session_id,
            reply=state.get("reply", ""),
            intent=state.get("intent", "out_of_scope"),
            confidence=float(state.get("confidence", 0.0)),
            sources=state.get("sources", []),
            order=state.get("order"),
            invoice=state.get("invoice"),
            pending_confirmation=bool(draft and draft["status"] == "awaiting_confirmation"),
            escalated=state.get("escalation") is not None,
            escalation=state.get("escalation"),
            latency_ms=round(latency_ms, 2),
            llm_calls=int(state.get("llm_calls", 0)),
            llm_tokens=int(state.get("llm_tokens", 0)),
            degraded=bool(state.get("degraded", False)),
        )
