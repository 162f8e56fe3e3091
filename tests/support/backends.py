"""The Postgres and Redis the backend tests run against, and how each test gets its own.

Postgres: one template database is migrated and seeded per run; each test gets a
copy (CREATE DATABASE ... TEMPLATE, ~0.2 s) and it is dropped afterwards. Redis: each
test gets its own key prefix, deleted afterwards.

Where they are: TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/postgres, the
maintenance database) and TEST_REDIS_URL (default redis://127.0.0.1:6379/15).
When one is unreachable a test that needs it is skipped with the reason, except in CI
(CI=true), where it fails: CI must never pass by not testing.

Which tests need them: those using the postgres_template, postgres_url or redis_prefix
fixtures are marked `postgres` / `redis` by tests/conftest.py (`services_needed`); a
parametrization names its "postgres" value with POSTGRES (the `backend` values: Postgres
data plus Redis caches and locks) or POSTGRES_ONLY, which carry the markers.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def missing(service: str, reason: str) -> None:
    """Fail in CI, skip elsewhere, saying which service is missing and how to start it."""
    message = (
        f"{service} is not reachable ({reason}). Start it (see ../shared/FACTS.md or the "
        f"README's 'Backends' section), or set TEST_{service.upper()}_URL."
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


# Parameter values for tests run on each backend.
POSTGRES = pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.redis])
POSTGRES_ONLY = pytest.param("postgres", marks=pytest.mark.postgres)
BACKENDS = ["embedded", POSTGRES]


def services_needed(item) -> set[str]:
    """"postgres" and/or "redis" when the test item uses their fixtures."""
    fixtures = set(item.fixturenames)
    needed = set()
    if fixtures & {"postgres_template", "postgres_url"}:
        needed.add("postgres")
    if "redis_prefix" in fixtures:
        needed.add("redis")
    return needed


def database_url(name: str) -> str:
    """POSTGRES_URL with its database replaced by `name`."""
    parts = urlsplit(POSTGRES_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def admin(sql: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)


def require_postgres() -> None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        missing("postgres", str(exc).strip())


def require_redis() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        missing("redis", str(exc))
    return client


def create_database(template: str | None = None) -> str:
    name = f"tria_test_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def drop_database(name: str) -> None:
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_keys(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
