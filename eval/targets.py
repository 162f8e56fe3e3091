"""What the suite talks to: the library in process, or a running server over HTTP.

Both give conversations that send one customer message at a time and return the
turn as a plain dict with the TurnResult's fields, plus the database the
conversation writes to (for end-state checks, placeholders and the leak index).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from tria_graph.turn import TurnResult

from .database import open_engine
from .sandbox import BUSINESS_NOW, sandbox

# The turn's fields as the library defines them (tria_graph.TurnResult).
TURN_FIELDS = tuple(name for name in TurnResult.model_fields if name != "session_id")


def turn_dict(result: dict) -> dict:
    """The fields the suite reads from a TurnResult (or its JSON); missing counters are 0."""
    turn = {name: result.get(name) for name in TURN_FIELDS}
    turn["reply"] = turn["reply"] or ""
    turn["sources"] = turn["sources"] or []
    turn["llm_calls"] = int(turn["llm_calls"] or 0)
    turn["llm_tokens"] = int(turn["llm_tokens"] or 0)
    turn["latency_ms"] = float(turn["latency_ms"] or 0.0)
    return turn


def session_id(case_id: str, trial: int) -> str:
    return f"eval-{case_id}-t{trial}-{uuid.uuid4().hex[:8]}"[:128]


class Conversation:
    """One session of one customer against a target."""

    def __init__(self, send, engine: Engine, customer_id: str, session: str) -> None:
        self._send = send
        self.engine = engine
        self.customer_id = customer_id
        self.session_id = session

    async def send(self, message: str) -> dict:
        return await self._send(self.session_id, self.customer_id, message)


class InprocTarget:
    """The library in this process, on the embedded mode, with a fixed business clock.

    Each conversation runs on the ChatService production runs (`open_chat_service`,
    with its checkpointer, transcripts and locks), all sharing one loaded embedding
    model. Single-turn cases share one sandbox (they only read, or write records that
    no other single-turn check looks at); multi-turn scenarios and adversarial cases
    each get a fresh copy of the seeded database.
    """

    name = "inproc"
    clock_fixed = True
    serial_per_customer = False

    def __init__(self, template: Path, embeddings=None) -> None:
        self.template = Path(template)
        self.embeddings = embeddings
        self._stack = AsyncExitStack()
        self.shared_engine: Engine | None = None
        self._shared_service = None

    async def start(self) -> None:
        if self.embeddings is None:
            from tria_graph.adapters.embeddings import LocalEmbeddings

            self.embeddings = LocalEmbeddings(self.template / "models")
        await asyncio.to_thread(self.embeddings.load)
        box = self._stack.enter_context(sandbox(self.template))
        self._shared_service = await self._stack.enter_async_context(self._open(box.settings, BUSINESS_NOW))
        self.shared_engine = open_engine(box.settings.resolved_database_url)
        self._stack.callback(self.shared_engine.dispose)

    def _open(self, settings, now: datetime):
        from tria_graph import open_chat_service
        from tria_graph.demo_data import Clock

        return open_chat_service(settings, embeddings=self.embeddings, clock=Clock(now))

    async def close(self) -> None:
        await self._stack.aclose()

    def reference_engine(self) -> Engine:
        """The database as seeded (for placeholders and the leak index)."""
        return self.shared_engine

    @asynccontextmanager
    async def conversation(
        self, case_id: str, customer_id: str, trial: int, isolated: bool, now: datetime | None = None
    ) -> AsyncIterator[Conversation]:
        if not isolated:
            yield Conversation(self._send_with(self._shared_service), self.shared_engine, customer_id, session_id(case_id, trial))
            return
        with sandbox(self.template) as box:
            async with self._open(box.settings, now or BUSINESS_NOW) as service:
                engine = open_engine(box.settings.resolved_database_url)
                try:
                    yield Conversation(self._send_with(service), engine, customer_id, session_id(case_id, trial))
                finally:
                    engine.dispose()

    @staticmethod
    def _send_with(service):
        async def send(session: str, customer: str, message: str) -> dict:
            result = await service.send(session, customer, message)
            return turn_dict(result.model_dump())

        return send

    def cache_counters(self) -> dict | None:
        return prometheus_registry_counters()


class HttpTarget:
    """A running server (`tria serve`); its database is read at Settings().resolved_database_url.

    The server keeps its own clock and data, so delivery dates are not checked, and
    stateful cases of one customer run one at a time (their new rows are told apart by id).
    """

    name = "http"
    clock_fixed = False
    serial_per_customer = True

    def __init__(
        self,
        base_url: str,
        database_url: str | None = None,
        timeout: float = 30.0,
        api_key: str | None = None,
        signer=None,
    ) -> None:
        from tria_graph.config import Settings

        settings = Settings()
        self.base_url = base_url.rstrip("/")
        self.database_url = database_url or settings.resolved_database_url
        self.timeout = timeout
        # GET /metrics needs it when the server sets one (else loopback only).
        self.metrics_token = Settings().metrics_token
        self.client = None
        self.engine: Engine | None = None
        # Credentials: an API key (TRIA_EVAL_API_KEY) acting for each case's outlet, or
        # else a token per outlet minted with the server's signing keys (AUTH_SIGNING_KEYS,
        # or the VAR_DIR's dev key), as `tria token --customer` does.
        self.api_key = api_key or os.environ.get("TRIA_EVAL_API_KEY") or None
        self._settings = settings
        self._signer = signer
        self._tokens: dict[str, str] = {}

    async def start(self) -> None:
        import httpx

        self.client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout)
        self.engine = open_engine(self.database_url)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self.engine is not None:
            self.engine.dispose()

    def reference_engine(self) -> Engine:
        return self.engine

    @asynccontextmanager
    async def conversation(
        self, case_id: str, customer_id: str, trial: int, isolated: bool, now: datetime | None = None
    ) -> AsyncIterator[Conversation]:
        yield Conversation(self._send, self.engine, customer_id, session_id(case_id, trial))

    def credentials(self, customer: str) -> dict[str, str]:
        """Headers authenticating a request for the customer's outlet."""
        if self.api_key:
            return {"X-API-Key": self.api_key}
        if customer not in self._tokens:
            from datetime import timedelta

            from tria_graph.auth import TokenSigner

            if self._signer is None:
                self._signer = TokenSigner.from_settings(self._settings)
            self._tokens[customer] = self._signer.issue(
                f"outlet:{customer}", timedelta(hours=12), role="customer", outlet_id=customer
            )
        return {"Authorization": f"Bearer {self._tokens[customer]}"}

    async def _send(self, session: str, customer: str, message: str) -> dict:
        response = await self.client.post(
            "/api/chatbot",
            json={"session_id": session, "customer_id": customer, "message": message},
            headers=self.credentials(customer),
        )
        if response.status_code != 200:
            raise TargetError(f"HTTP {response.status_code}: {response.text[:300]}")
        return turn_dict(response.json())

    async def fetch_cache_counters(self) -> dict | None:
        try:
            headers = {"Authorization": f"Bearer {self.metrics_token}"} if self.metrics_token else None
            response = await self.client.get("/metrics", headers=headers)
        except Exception:
            return None
        if response.status_code != 200:
            return None
        return parse_cache_counters(response.text)


class TargetError(RuntimeError):
    """The target answered with an error instead of a turn."""


CACHE_HITS, CACHE_MISSES = "tria_cache_hits_total", "tria_cache_misses_total"


def parse_cache_counters(exposition: str) -> dict | None:
    """Sum of the cache hit and miss counters in Prometheus text format, or None if absent."""
    totals: dict[str, float] = {}
    for line in exposition.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in (CACHE_HITS, CACHE_MISSES):
            try:
                totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                continue
    if not totals:
        return None
    return {"hits": totals.get(CACHE_HITS, 0.0), "misses": totals.get(CACHE_MISSES, 0.0)}


def prometheus_registry_counters() -> dict | None:
    """The same counters from this process's prometheus_client registry, if any."""
    try:
        from prometheus_client import REGISTRY, generate_latest
    except ImportError:
        return None
    return parse_cache_counters(generate_latest(REGISTRY).decode())


def make_target(spec: str, template: Path | None = None, embeddings=None):
    if spec == "inproc":
        if template is None:
            raise ValueError("the in-process target needs a template VAR_DIR")
        return InprocTarget(template, embeddings)
    if spec.startswith(("http://", "https://")):
        return HttpTarget(spec)
    raise ValueError(f"--target must be 'inproc' or http://HOST:PORT, not {spec!r}")
