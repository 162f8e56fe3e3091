"""A pending order confirmation survives a process restart (SQLite checkpointer).

The real server runs as a subprocess (uvicorn) on a private copy of the seeded
VAR_DIR; it is killed with SIGKILL while an order waits for "yes", and a new
process on the same VAR_DIR places the order when the customer says "yes".
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

from tests.conftest import db_rows


ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, var: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {
            **os.environ,
            "VAR_DIR": str(var),
            # Empty values win over a developer's .env.
            "DATABASE_URL": "",
            "CHECKPOINT_DB": "",
            "CHROMA_DIR": "",
        }
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "server.app:app", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def wait_ready(self, client: httpx.Client) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if client.get(f"{self.url}/readiness").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.2)
        pytest.fail(f"server not ready after {READY_TIMEOUT:.0f} s:\n{self.output()}")

    def chat(self, client: httpx.Client, message: str, session_id: str, customer_id: str) -> dict:
        response = client.post(
            f"{self.url}/api/chatbot",
            json={"message": message, "session_id": session_id, "customer_id": customer_id},
        )
        assert response.status_code == 200, f"{response.text}\n{self.output()}"
        return response.json()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()



def test_pending_confirmation_survives_a_restart(seeded_var, tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    shutil.copy(seeded_var / "tria.db", var / "tria.db")
    (var / "chroma").symlink_to(seeded_var / "chroma")
    (var / "models").symlink_to(seeded_var / "models")
    session, customer = "restart-1", "OUT-001"
    count_sql = "SELECT count(*) AS n FROM orders WHERE customer_id = :c"
    orders_before = db_rows(var, count_sql, c=customer)[0].n

    servers: list[ServerProcess] = []
    try:
        with httpx.Client(timeout=30) as client:
            first = ServerProcess(var, tmp_path / "first.log")
            servers.append(first)
            first.wait_ready(client)
            drafted = first.chat(client, "I need 200 12 inch pizza boxes", session, customer)
            assert drafted["pending_confirmation"] is True, drafted
            assert "141.70" in drafted["reply"]

            first.kill()
            assert first.proc.returncode == -signal.SIGKILL
            assert db_rows(var, count_sql, c=customer)[0].n == orders_before

            second = ServerProcess(var, tmp_path / "second.log")
            servers.append(second)
            second.wait_ready(client)
            placed = second.chat(client, "yes", session, customer)
    finally:
        for server in servers:
            server.kill()

    assert placed["pending_confirmation"] is False, placed
    order = placed["order"]
    assert order is not None, placed
    assert order["number"].startswith("SO-") and order["number"] in placed["reply"]
    assert order["total"] == "141.70"
    assert [(l["sku"], l["quantity"]) for l in order["lines"]] == [("PB-12", 200)]
    assert placed["invoice"]["order_number"] == order["number"]

    rows = db_rows(var, "SELECT customer_id, draft_id, status FROM orders WHERE number = :n", n=order["number"])
    assert len(rows) == 1
    assert rows[0].customer_id == customer and rows[0].status == "confirmed"
    assert rows[0].draft_id, "the order remembers the draft it came from"
    same_draft = db_rows(var, "SELECT count(*) AS n FROM orders WHERE draft_id = :d", d=rows[0].draft_id)
    assert same_draft[0].n == 1
    assert db_rows(var, count_sql, c=customer)[0].n == orders_before + 1
