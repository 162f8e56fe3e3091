"""The real server as a subprocess (uvicorn), for tests that need whole processes:
restarts, two replicas on shared backends, a database going away under a running server.

Each server gets a private VAR_DIR (see `private_var`) and a free port; its output goes
to a log file that failures quote. Always `kill()` every server in a `finally` block.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import backends
from tests.support.auth import TEST_SIGNING_KEYS, bearer
from tria_graph.adapters.embeddings import LocalEmbeddings

ROOT = Path(__file__).resolve().parents[2]
# Two cores shared with other work: loading the model can take a while.
READY_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_var(seeded_var: Path, var: Path, embeddings: LocalEmbeddings | None = None) -> Path:
    """A VAR_DIR of one test: its own copy of the SQLite database, the shared
    knowledge base and model files (symlinked). `embeddings` is no longer needed: the
    model has no export to share (it is read from its package)."""
    var.mkdir()
    shutil.copy(seeded_var / "tria.db", var / "tria.db")
    (var / "chroma").symlink_to(seeded_var / "chroma")
    (var / "models").symlink_to(seeded_var / "models")
    return var


def postgres_env(postgres_url: str, redis_prefix: str, redis_url: str | None = None) -> dict[str, str]:
    """Environment for a server on the Postgres + Redis backend."""
    return {
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url or backends.REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
    }


class ServerProcess:
    """`uvicorn server.main:app` on a free port, with VAR_DIR and optional env overrides.

    Without overrides it is embedded (SQLite, in-process caches and locks) and without
    rate limits: empty values win over a developer's .env."""

    def __init__(self, var: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environment = {
            **os.environ,
            "VAR_DIR": str(var),
            "DATABASE_URL": "",
            "CHECKPOINT_DB": "",
            "CHROMA_DIR": "",
            "REDIS_URL": "",
            # Bursts of turns about other things (replicas, restarts, faults); the rate
            # limits have their own tests. `env` may turn them back on.
            "RATE_LIMIT_ENABLED": "false",
            # A known signing key: tests mint customer tokens with it (tests/support/auth.py).
            "AUTH_SIGNING_KEYS": TEST_SIGNING_KEYS,
            **(env or {}),
        }
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "server.main:app", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def wait_ready(self, client: httpx.Client, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if client.get(f"{self.url}/readiness").status_code == 200:
                    return
                if client.get(f"{self.url}/health").json().get("status") == "unhealthy":
                    pytest.fail(f"server failed to load:\n{self.output()}")
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.2)
        pytest.fail(f"server not ready after {timeout:.0f} s:\n{self.output()}")

    @staticmethod
    def auth(customer_id: str) -> dict[str, str]:
        """Headers authenticating a request as the outlet's."""
        return bearer(customer_id)

    def post(self, client: httpx.Client, message: str, session_id: str, customer_id: str) -> httpx.Response:
        return client.post(
            f"{self.url}/api/chatbot",
            json={"message": message, "session_id": session_id, "customer_id": customer_id},
            headers=self.auth(customer_id),
        )

    def chat(self, client: httpx.Client, message: str, session_id: str, customer_id: str) -> dict:
        """One turn that must be answered 200; its JSON body."""
        response = self.post(client, message, session_id, customer_id)
        assert response.status_code == 200, f"{message!r}: {response.status_code} {response.text}\n{self.output()}"
        return response.json()

    def transcript(self, client: httpx.Client, session_id: str, customer_id: str) -> list[dict]:
        response = client.get(
            f"{self.url}/api/sessions/{session_id}/messages",
            params={"customer_id": customer_id},
            headers=self.auth(customer_id),
        )
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{self.output()}"
        body = response.json()
        assert body["session_id"] == session_id and body["customer_id"] == customer_id
        return body["messages"]

    def health(self, client: httpx.Client) -> dict:
        response = client.get(f"{self.url}/health")
        assert response.status_code == 200, response.text
        return response.json()

    def kill(self) -> None:
        """SIGKILL (no shutdown at all) and reap; safe to call twice."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        if not self.log.closed:
            self.log.close()


def turns(messages: list[dict]) -> list[tuple[str, str]]:
    """(role, content) of each transcript message, in order."""
    return [(m["role"], m["content"]) for m in messages]
