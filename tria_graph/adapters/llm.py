"""The language model: any OpenAI-compatible chat server, through langchain-openai,
behind a circuit breaker.

Two uses, each one HTTP call:
- `classify`: one structured-output call (a json_schema `response_format` built from
  the `Classification` pydantic model) that gives the intent and the entities together;
- `write`: one plain completion that writes the reply (streamed token by token when the
  graph is streamed with stream_mode="messages").

Every failure (timeout, rate limit, server error, unreadable output) and every call
refused by the open breaker raises `ModelUnavailable`; the caller answers offline. The
breaker opens after 3 consecutive failures and lets one trial call through 30 s later.
The OpenAI client's own retries are off (max_retries=0): a retry would hold the
customer for another OPENAI_TIMEOUT, and the offline answer is ready at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel, Field

from ..config import Settings
from ..extras import require
from ..domain.intents import Intent
from ..metrics import LLM_CALLS, LLM_FAILURES, LLM_TOKENS

if TYPE_CHECKING:  # the [llm] extra; imported by LanguageModel
    import pybreaker

log = logging.getLogger(__name__)

FAIL_MAX = 3  # consecutive failures that open the breaker
RESET_TIMEOUT = 30.0  # seconds the breaker stays open before a trial call

T = TypeVar("T")


class OrderItem(BaseModel):
    description: str = Field(description="The product as the customer named it, e.g. '12 inch pizza box'.")
    quantity: int | None = Field(description="How many, if the customer said so.")


class Classification(BaseModel):
    """What one customer message asks for, and the facts it names."""

    intent: Intent = Field(description="The customer's intent.")
    confidence: float = Field(description="How sure you are of the intent, from 0 to 1.")
    order_numbers: list[str] = Field(description="Order numbers mentioned, like SO-10023.")
    items: list[OrderItem] = Field(description="Products the customer wants to order or asks about.")
    delivery_day: str | None = Field(description="A weekday asked for delivery, e.g. Thursday.")
    hours_before: float | None = Field(description="Hours before delivery, for cancellation questions.")


def openai_connection(settings: Settings) -> dict:
    """How every langchain-openai client here reaches the server: key, base URL, timeout,
    and no client retries (a retry would hold the customer; the offline answer is ready)."""
    return dict(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url or None,
        timeout=settings.openai_timeout,
        max_retries=0,
    )


class ModelUnavailable(Exception):
    """The model did not answer usefully; `reason` is one of timeout, rate_limited,
    server_error, malformed, circuit_open, error."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class LanguageModel:
    def __init__(self, settings: Settings, breaker: pybreaker.CircuitBreaker | None = None) -> None:
        ChatOpenAI = require("langchain_openai", "llm").ChatOpenAI
        pybreaker = require("pybreaker", "llm")
        self._breaker_error = pybreaker.CircuitBreakerError
        common = dict(
            **openai_connection(settings), model=settings.openai_model, max_tokens=settings.openai_max_tokens
        )
        self.model_name = settings.openai_model
        # The reply writer streams when the graph streams messages; usage comes in the
        # last chunk (stream_usage) so tokens are counted either way.
        self._writer = ChatOpenAI(**common, stream_usage=True).with_config(
            run_name="write_reply", tags=["reply"]
        )
        # The classifier's JSON is never shown to the customer: no streaming.
        self._classifier = (
            ChatOpenAI(**common, disable_streaming=True)
            .with_structured_output(Classification, method="json_schema", strict=True, include_raw=True)
            .with_config(run_name="classify", tags=["nostream"])
        )
        self.breaker = breaker or pybreaker.CircuitBreaker(
            fail_max=FAIL_MAX, reset_timeout=RESET_TIMEOUT, name="openai"
        )

    def status(self) -> str:
        """closed | open | half_open, for /health."""
        return self.breaker.current_state.replace("-", "_")

    def classify(self, messages: list[BaseMessage]) -> tuple[Classification, int]:
        """The message's intent and entities, and the tokens the call used."""

        def call() -> tuple[Classification, int]:
            out = self._classifier.invoke(messages)
            if out.get("parsing_error") is not None or out.get("parsed") is None:
                raise ModelUnavailable("malformed", str(out.get("parsing_error") or "no parsed output"))
            return out["parsed"], _tokens(out["raw"])

        return self._guarded("classify", call)

    def write(self, messages: list[BaseMessage]) -> tuple[str, int]:
        """The reply text and the tokens the call used."""

        def call() -> tuple[str, int]:
            message = self._writer.invoke(messages)
            text = message.text.strip() if isinstance(message, AIMessage) else ""
            if not text:
                raise ModelUnavailable("malformed", "empty reply")
            return text, _tokens(message)

        return self._guarded("write", call)

    def _guarded(self, purpose: str, call: Callable[[], tuple[T, int]]) -> tuple[T, int]:
        try:
            # calling(), not call(): call() holds the breaker's lock for the whole model
            # call, so a process would talk to the model one turn at a time.
            with self.breaker.calling():
                result, tokens = call()
        except self._breaker_error as exc:
            # Refused (already open), or this call's failure tripped it: then the
            # failure is the exception's context.
            cause = exc.__context__
            reason = _reason(cause) if cause is not None else "circuit_open"
            raise self._failed(purpose, reason, exc) from exc
        except Exception as exc:
            raise self._failed(purpose, _reason(exc), exc) from exc
        LLM_CALLS.labels(purpose).inc()
        LLM_TOKENS.labels(purpose).inc(tokens)
        return result, tokens

    def _failed(self, purpose: str, reason: str, exc: BaseException) -> ModelUnavailable:
        LLM_FAILURES.labels(purpose, reason).inc()
        log.warning("model %s failed (%s): %s", purpose, reason, exc)
        return exc if isinstance(exc, ModelUnavailable) else ModelUnavailable(reason, str(exc))


def _tokens(message: AIMessage) -> int:
    usage = getattr(message, "usage_metadata", None) or {}
    return int(usage.get("total_tokens") or 0)


def _reason(exc: BaseException | None) -> Literal[
    "timeout", "rate_limited", "server_error", "malformed", "circuit_open", "error"
]:
    if isinstance(exc, ModelUnavailable):
        return exc.reason  # type: ignore[return-value]
    import openai  # installed with langchain-openai, as pybreaker is: LanguageModel checked
    import pybreaker

    if isinstance(exc, pybreaker.CircuitBreakerError):
        return "circuit_open"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.RateLimitError):
        return "rate_limited"
    if isinstance(exc, openai.InternalServerError):
        return "server_error"
    if isinstance(exc, (ValueError, openai.APIResponseValidationError)):
        return "malformed"  # unreadable JSON or output that does not fit the schema
    return "error"
