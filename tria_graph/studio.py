"""The graph for `langgraph dev` and LangGraph Studio (langgraph.json at the repo root).

Studio loads a module-level compiled graph and gives it its own checkpointer, so this
is the graph without one. Its nodes read a `Context` (database, knowledge base,
classifier) from the run's runtime context, which holds live objects: pass
`context=build_context()` when invoking it from Python.
"""

from __future__ import annotations

from .graph import build_graph

graph = build_graph()
