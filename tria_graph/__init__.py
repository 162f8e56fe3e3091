"""tria_graph: Tria's customer-service conversation as a LangGraph graph.

    from tria_graph import build_graph, build_context
    graph = build_graph()              # in-memory checkpoints; pass a saver for durable ones
    context = build_context()          # database, knowledge base, classifier from settings

The public API (`__all__`):

- `build_graph(checkpointer=None)`: the compiled conversation graph; run it with
  `context=Context(...)`.
- `build_context(settings=None, embeddings=None, clock=None)`: the `Context` (database,
  knowledge base, intent classifier, caches, optional language model and Xero) that
  the settings describe; raises `NotReady` when a part is missing.
- `open_chat_service(settings=None, ...)`: an async context manager yielding a
  `ChatService` with its checkpointer, transcripts and session locks, as the server uses.
- `Context`: what the graph's nodes are given (repository, knowledge base, classifier...).
- `ChatService`: one turn at a time per session (`send`, `stream`, `transcript`), on a graph
  and its storage.
- `TurnResult`: one turn's reply, intent, confidence, draft or order and timings.
- `State`: the graph's state (messages and the per-turn fields); `new_turn(text)` is
  the update that starts a turn.
- Exceptions: `NotReady` (a part is missing; the message names the command that makes
  it), `UnknownCustomer`, `SessionForbidden`, `SessionNotFound`, `MissingExtra` (an
  optional feature's extra is not installed), `ModelNotFound` (the embedding model's
  files are missing).

Optional backends come as extras (pip install 'tria-graph[postgres]' and so on; see
docs/packaging.md); importing this package needs none of them.
"""

from .adapters.embeddings import ModelNotFound
from .bootstrap import NotReady, build_context, open_chat_service
from .context import Context
from .conversation import ChatService, SessionForbidden, SessionNotFound, TurnResult, UnknownCustomer
from .extras import MissingExtra
from .graph import build_graph
from .state import State, new_turn

__all__ = [
    "build_graph",
    "build_context",
    "open_chat_service",
    "Context",
    "ChatService",
    "TurnResult",
    "State",
    "new_turn",
    "NotReady",
    "UnknownCustomer",
    "SessionForbidden",
    "SessionNotFound",
    "MissingExtra",
    "ModelNotFound",
]
