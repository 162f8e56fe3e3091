"""One turn on the embedded default, as a library user runs it (docs/packaging.md).

    tria db seed && tria kb build && python scripts/one_turn.py
"""

import asyncio

from tria_graph import open_chat_service


async def main() -> None:
    async with open_chat_service() as chat:
        result = await chat.send("pack-check", "OUT-001", "What are your delivery days?")
        print(result.intent, "|", result.reply)


asyncio.run(main())
