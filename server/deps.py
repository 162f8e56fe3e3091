"""How routes get the chat service.

`ServiceDep` hands a route the loaded ChatService, or raises BotNotLoaded while the
bot loads in the background (or after it failed to), which errors.py answers as 503.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tria_graph.config import get_settings
from tria_graph.conversation import ChatService

from .errors import BotNotLoaded, StreamingDisabled


class BotHolder:
    """The loaded ChatService, or why it is not loaded (yet)."""

    def __init__(self) -> None:
        self.service: ChatService | None = None
        self.error: str | None = None


async def bot_holder(request: Request) -> BotHolder:
    return request.app.state.bot


BotDep = Annotated[BotHolder, Depends(bot_holder)]


async def loaded_service(bot: BotDep) -> ChatService:
    if bot.service is None:
        raise BotNotLoaded(bot.error)
    return bot.service


ServiceDep = Annotated[ChatService, Depends(loaded_service)]


async def streaming_enabled() -> None:
    if not get_settings().enable_streaming:
        raise StreamingDisabled()
