"""Request and response bodies of the HTTP API.

Money is sent as a decimal string ("141.70") so no amount is rounded by a float
(pydantic writes a Decimal so).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from tria_graph.config import get_settings
from tria_graph.turn import TurnResult

# Identifiers as the API accepts them, in bodies, paths and query strings alike.
SESSION_ID_PATTERN = r"^[A-Za-z0-9_.:\-]+$"
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9\-]+$"
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=SESSION_ID_PATTERN)]
CustomerId = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=CUSTOMER_ID_PATTERN)]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="The customer's message, 1 to 4,000 characters.")
    session_id: SessionId
    # Optional with a customer's token (it names the outlet; another outlet is 403),
    # required with an API key.
    customer_id: CustomerId | None = None

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


# The reply to a turn is the library's TurnResult (its records are domain/records.py's):
# one definition of a turn's shape for the library, the API and the evaluation suite.
ChatResponse = TurnResult


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


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the token lives.")
    # Also set as the csrf cookie: a page using the session cookie echoes it in X-CSRF-Token.
    csrf_token: str
    role: Literal["customer", "staff", "admin"]
    outlet_id: str | None = None


class SetPasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=4096)
    password: str = Field(min_length=1, max_length=256)


class Me(BaseModel):
    kind: Literal["customer", "api_key", "staff"]
    name: str
    role: Literal["customer", "staff", "admin"]
    outlet_id: str | None = None


class ErrorBody(BaseModel):
    error: str
    message: str
    detail: list[dict] | None = None
