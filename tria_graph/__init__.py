"""tria_graph: Tria's customer-service conversation as a LangGraph graph.

    from tria_graph import build_graph, build_context
    graph = build_graph()              # in-memory checkpoints; pass a saver for durable ones
    context = build_context()          # database, knowledge base, classifier from settings
"""

from .bootstrap import build_context, open_chat_service
from .context import Context
from .conversation import ChatService, SessionForbidden, TurnResult, UnknownCustomer
from .graph import build_graph
from .state import State, new_turn

__all__ = [
    "build_graph",
    "build_context",
    "open_chat_service",
    "Context",
    "ChatService",
    "TurnResult",
    "SessionForbidden",
    "UnknownCustomer",
    "State",
    "new_turn",
]
