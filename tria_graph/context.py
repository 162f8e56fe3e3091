"""Runtime dependencies: everything a node may use, passed in per invocation.

Nodes get these through LangGraph's runtime context (`runtime.context`), never
through globals, so a test builds the graph with its own parts (a fixed clock, a
temporary database, a fake invoice gateway, a stub classifier).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .adapters.cache import Cache, MemoryCache, ttls
from .config import Settings
from .domain.catalog import CatalogMatcher

if TYPE_CHECKING:  # the adapters a context holds; imported only for their types
    from .adapters.chat_sessions import ChatSessionStore
    from .adapters.database import Database
    from .adapters.escalations import EscalationStore
    from .adapters.intent_classifier import IntentClassifier
    from .adapters.invoices import InvoiceGateway
    from .adapters.llm import LanguageModel
    from .adapters.orders import OrderStore
    from .adapters.policy_kb import PolicyKB


@dataclass
class Context:
    """The parts one conversation turn may use."""

    settings: Settings
    orders: OrderStore  # catalogue, outlets and orders
    escalations: EscalationStore
    invoices: InvoiceGateway
    policy_kb: PolicyKB
    classifier: IntentClassifier
    catalog: CatalogMatcher
    chat_sessions: ChatSessionStore | None = None  # who owns each conversation (ChatService)
    database: Database | None = None  # for health checks and closing the pool
    clock: Callable[[], datetime] = field(default=None)  # type: ignore[assignment]
    cache: Cache = field(default=None)  # type: ignore[assignment]
    # The language model (OPENAI_API_KEY set), or None: the offline mode. Nothing in the
    # conversation state depends on it, so a conversation may change modes between turns.
    llm: LanguageModel | None = None

    def __post_init__(self) -> None:
        if self.cache is None:
            self.cache = MemoryCache(ttls(self.settings))
        if self.clock is None:
            zone = ZoneInfo(self.settings.timezone)
            self.clock = lambda: datetime.now(zone)

    def now(self) -> datetime:
        """Business time (Singapore), timezone-aware."""
        return self.clock()

    def close(self) -> None:
        """Release what the context holds open (the database pool)."""
        if self.database is not None:
            self.database.dispose()
