"""POST /api/chatbot and its streamed twin, /api/chatbot/stream (customers and API keys)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from tria_graph.auth import Authenticator, Identity, turn_action
from tria_graph.auth.audit import actor_of
from tria_graph.conversation import StreamEvent
from tria_graph.turn import TurnResult

from ..deps import AuthenticatorDep, CustomerDep, ServiceDep, streaming_enabled
from ..errors import documented
from ..limits import API_LIMITS
from ..schemas import ChatRequest, ChatResponse

log = logging.getLogger("tria.server")
router = APIRouter(prefix="/api", responses=documented(401, 403, 404, 422, 429, 503))


# Rate limits (server/limits.py): per client address, then per outlet.
@router.post("/chatbot", response_model=ChatResponse, dependencies=API_LIMITS)
async def chatbot(body: ChatRequest, caller: CustomerDep, service: ServiceDep, auth: AuthenticatorDep):
    customer = caller.customer_for(body.customer_id)
    result = await service.send(body.session_id, customer, body.message)
    await audit_turn(auth, caller, customer, result)
    return result


@router.post(
    "/chatbot/stream",
    # Checked before the service, so streaming off is 404 even while the bot loads.
    dependencies=[Depends(streaming_enabled), *API_LIMITS],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`token` events, then one `done` event with the /api/chatbot body."},
    },
)
async def chatbot_stream(
    body: ChatRequest, caller: CustomerDep, service: ServiceDep, auth: AuthenticatorDep
) -> StreamingResponse:
    """The same turn as /api/chatbot, as server-sent events: `token` events
    (`{"text": ...}`) as the reply is written, then `done` with the /api/chatbot body.
    404 `streaming_disabled` when ENABLE_STREAMING is off."""
    customer = caller.customer_for(body.customer_id)
    events = service.stream(body.session_id, customer, body.message)
    # ("started", None): access checked and the session's lock held. Taken before the
    # response starts, so an unknown customer or a busy session is a real HTTP status.
    await anext(events)

    async def on_result(result: TurnResult) -> None:
        await audit_turn(auth, caller, customer, result)

    return StreamingResponse(
        _sse_events(events, on_result), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


async def audit_turn(auth: Authenticator, caller: Identity, customer: str, result: TurnResult) -> None:
    """An order placed by this turn goes into the audit log, with who placed it."""
    action = turn_action(result)
    if action is not None:
        name, target = action
        await asyncio.to_thread(
            auth.audit.record, actor_of(caller), name, target, customer, {"session_id": result.session_id}
        )


async def _sse_events(events: AsyncIterator[StreamEvent], on_result) -> AsyncIterator[str]:
    try:
        async for kind, value in events:
            if kind == "token":
                yield _sse("token", {"text": value})
            elif kind == "result":
                await on_result(value)
                yield _sse("done", value.model_dump(mode="json"))
    except Exception as exc:  # the status line is sent: report the failure in the stream
        log.exception("streamed turn failed")
        yield _sse("error", {"error": "turn_failed", "message": str(exc) or type(exc).__name__})
    finally:
        await events.aclose()


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
