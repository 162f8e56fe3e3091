"""The unit tier runs with no services and no embedding model: a test here that asks
for one of the shared fixtures that need them fails, saying where it belongs."""

from __future__ import annotations

import pytest


def refuse(what: str, tier: str = "tests/integration"):
    @pytest.fixture(scope="session")
    def fixture():
        pytest.fail(f"unit tests run without {what}: move this test to {tier}")

    return fixture


embeddings = refuse("the embedding model")
seeded_var = refuse("the embedding model (seeded_var builds the knowledge base)")
postgres_template = refuse("Postgres")
redis_prefix = refuse("Redis")
