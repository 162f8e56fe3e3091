"""POST /api/chatbot and its streamed twin, /api/chatbot/stream."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from tria_graph.conversation import StreamEvent

from ..deps import ServiceDep, streaming_enabled
from ..errors import documented
from ..limits import API_LIMITS
from ..schemas import ChatRequest, ChatResponse

log = logging.getLogger("tria.server")
# Rate limits (server/limits.py): per client address, then per outlet.
router = APIRouter(prefix="/api", responses=documented(403, 404, 422, 429, 503), dependencies=API_LIMITS)


@router.post("/chatbot", response_model=ChatResponse)
async def chatbot(body: ChatRequest, service: ServiceDep):
    result = await service.send(body.session_id, body.customer_id, body.message)
    return result


@router.post(
    "/chatbot/stream",
    # Checked before the service, so streaming off is 404 even while the bot loads.
    dependencies=[Depends(streaming_enabled)],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`token` events, then one `done` event with the /api/chatbot body."},
    },
)
async def chatbot_stream(body: ChatRequest, service: ServiceDep) -> StreamingResponse:
    """The same turn as /api/chatbot, as server-sent events: `token` events
    (`{"text": ...}`) as the reply is written, then `done` with the /api/chatbot body.
    404 `streaming_disabled` when ENABLE_STREAMING is off."""
    events = service.stream(body.session_id, body.customer_id, body.message)
    # ("started", None): access checked and the session's lock held. Taken before the
    # response starts, so an unknown customer or a busy session is a real HTTP status.
    await anext(events)
    return StreamingResponse(_sse_events(events), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _sse_events(events: AsyncIterator[StreamEvent]) -> AsyncIterator[str]:
    try:
        async for kind, value in events:
            if kind == "token":
                yield _sse("token", {"text": value})
            elif kind == "result":
                yield _sse("done", value.model_dump(mode="json"))
    except Exception as exc:  # the status line is sent: report the failure in the stream
        log.exception("streamed turn failed")
        yield _sse("error", {"error": "turn_failed", "message": str(exc) or type(exc).__name__})
    finally:
        await events.aclose()


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
