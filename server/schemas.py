"""Request and response bodies of the HTTP API.

Money is sent as a decimal string ("141.70") so no amount is rounded by a float.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from tria_graph.config import get_settings

Money = Decimal
# Identifiers as the API accepts them, in bodies, paths and query strings alike.
SESSION_ID_PATTERN = r"^[A-Za-z0-9_.:\-]+$"
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9\-]+$"
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=SESSION_ID_PATTERN)]
CustomerId = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=CUSTOMER_ID_PATTERN)]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="The customer's message, 1 to 4,000 characters.")
    session_id: SessionId
    customer_id: CustomerId

    @field_validator("message")
    @classmethod
    def _message_has_text(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("message must not be empty")
        limit = get_settings().max_message_chars
        if len(value) > limit:
            raise ValueError(f"message must be at most {limit} characters")
        return value


class Source(BaseModel):
    document: str
    section: str


class OrderLine(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: Money
    line_total: Money


class Order(BaseModel):
    number: str
    status: str
    delivery_date: date
    subtotal: Money
    gst: Money
    total: Money
    lines: list[OrderLine]
    invoice_number: str | None = None


class InvoiceLine(BaseModel):
    sku: str
    description: str
    quantity: int
    unit_amount: Money
    line_amount: Money


class Invoice(BaseModel):
    number: str
    order_number: str
    issued_on: date
    due_on: date
    subtotal: Money
    gst: Money
    total: Money
    status: str
    lines: list[InvoiceLine]


class Escalation(BaseModel):
    reference: str
    level: str
    kind: str
    due_at: datetime


class ChatResponse(BaseModel):
    session_id: str
    reply: str
    intent: str
    confidence: float
    sources: list[Source]
    order: Order | None
    invoice: Invoice | None
    pending_confirmation: bool
    escalated: bool
    escalation: Escalation | None
    latency_ms: float
    llm_calls: int = Field(default=0, description="Language-model calls this turn (0 offline).")
    llm_tokens: int = Field(default=0, description="Their tokens, prompt and completion.")
    degraded: bool = Field(
        default=False, description="The model failed or its circuit breaker was open; answered offline."
    )


class TranscriptMessage(BaseModel):
    role: Literal["customer", "assistant"]
    content: str
    at: datetime | None = None
    intent: str | None = None


class Transcript(BaseModel):
    session_id: str
    customer_id: str
    messages: list[TranscriptMessage]


class Health(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy", "starting"]
    timestamp: datetime
    version: str
    database: str  # connected | disconnected | not_loaded
    redis: str  # connected | disconnected | not_configured (embedded: in-process cache)
    chromadb: str  # connected | disconnected | not_loaded
    # How long each probe above took, in milliseconds (absent when not probed).
    latency_ms: dict[str, float]
    circuit_breakers: dict[str, str]


class Ready(BaseModel):
    ready: bool


class ErrorBody(BaseModel):
    error: str
    message: str
    detail: list[dict] | None = None
