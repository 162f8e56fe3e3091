"""Optional features and the pip extra each one needs.

The core install runs the graph embedded (SQLite, local Chroma, in-process caches);
Postgres, Redis, the language model, Xero, the server and the eval suite each come
with an extra. Their modules are imported only where a feature is used, through
`require`, so a missing extra is a message saying what to install, not a
ModuleNotFoundError from deep inside an import chain.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """A feature was asked for whose optional dependencies are not installed."""


def require(module: str, extra: str) -> ModuleType:
    """Import `module`, or say which extra of tria-graph provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"This feature needs {module.split('.')[0]}, which is not installed: "
            f"pip install 'tria-graph[{extra}]'"
        ) from exc
