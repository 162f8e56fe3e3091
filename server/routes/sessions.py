"""GET /api/sessions/{session_id}/messages: a session's conversation, for its owner."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from langchain_core.messages import BaseMessage

from ..deps import CustomerDep, ServiceDep
from ..errors import documented
from ..limits import API_LIMITS
from ..schemas import CUSTOMER_ID_PATTERN, SESSION_ID_PATTERN, Transcript, TranscriptMessage

# Rate limits (server/limits.py): per client address, then per outlet.
router = APIRouter(prefix="/api", responses=documented(401, 403, 404, 422, 429, 503), dependencies=API_LIMITS)

SessionIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=SESSION_ID_PATTERN)]
# Optional with a customer's token (it names the outlet), required with an API key.
CustomerIdQuery = Annotated[str | None, Query(min_length=1, max_length=16, pattern=CUSTOMER_ID_PATTERN)]


@router.get("/sessions/{session_id}/messages", response_model=Transcript)
async def session_messages(
    session_id: SessionIdPath, caller: CustomerDep, service: ServiceDep, customer_id: CustomerIdQuery = None
):
    """The session's whole conversation, for the customer who owns it."""
    customer = caller.customer_for(customer_id)
    messages = await service.transcript(session_id, customer)
    return Transcript(session_id=session_id, customer_id=customer, messages=[_message(m) for m in messages])


def _message(message: BaseMessage) -> TranscriptMessage:
    return TranscriptMessage(
        role="customer" if message.type == "human" else "assistant",
        content=message.content,
        at=message.additional_kwargs.get("at"),
        intent=message.response_metadata.get("intent"),
    )
