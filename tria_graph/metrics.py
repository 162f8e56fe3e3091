"""Prometheus metrics: every counter and histogram the library and server record.

One module so the names are seen together; `GET /metrics` exposes the default
registry. Names follow Prometheus conventions (base units, _total for counters).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Latencies here run from ~1 ms (a cache hit) to seconds (a database outage).
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "tria_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "tria_http_request_duration_seconds", "HTTP request latency.", ["method", "route"], buckets=_BUCKETS
)
CACHE_HITS = Counter("tria_cache_hits_total", "Cache lookups that found a value.", ["cache"])
CACHE_MISSES = Counter("tria_cache_misses_total", "Cache lookups that found nothing.", ["cache"])
CACHE_ERRORS = Counter(
    "tria_cache_errors_total", "Cache operations that failed (Redis down); treated as misses.", ["cache"]
)
NODE_LATENCY = Histogram(
    "tria_node_duration_seconds", "Time spent in each graph node.", ["node"], buckets=_BUCKETS
)
CHECKPOINT_WRITE = Histogram(
    "tria_checkpoint_write_seconds", "Time to write one checkpoint (or its pending writes).",
    ["operation"], buckets=_BUCKETS,
)
TURNS = Counter("tria_turns_total", "Conversation turns answered.", ["intent"])
LOCK_WAIT = Histogram(
    "tria_session_lock_wait_seconds", "Time a turn waited for its session's lock.", buckets=_BUCKETS
)
LLM_CALLS = Counter("tria_llm_calls_total", "Language-model calls answered.", ["purpose"])
LLM_TOKENS = Counter("tria_llm_tokens_total", "Tokens (prompt + completion) of answered model calls.", ["purpose"])
LLM_FAILURES = Counter(
    "tria_llm_failures_total",
    "Model calls that failed or were refused by the open breaker (the turn was answered offline).",
    ["purpose", "reason"],
)
GROUNDING_REJECTIONS = Counter(
    "tria_llm_grounding_rejections_total", "Model replies rejected for numbers not in the facts."
)

# Access (server/limits.py, server/metrics_access.py).
RATE_LIMITED = Counter(
    "tria_rate_limited_total", "Requests refused (429) by a rate limit.", ["limit"]
)
RATE_LIMIT_ERRORS = Counter(
    "tria_rate_limit_errors_total",
    "Rate-limit checks that could not be made (Redis down) and were allowed (fail open).",
    ["limit"],
)
METRICS_REFUSED = Counter(
    "tria_metrics_refused_total",
    "GET /metrics requests refused: no or a wrong bearer token (401), not loopback (403).",
    ["reason"],
)
AUTH_FAILURES = Counter(
    "tria_auth_failures_total",
    "Refused credentials: missing, malformed, bad_signature, expired, revoked, wrong_audience, "
    "unknown_key, unknown_api_key, bad_credentials, csrf.",
    ["reason"],
)
