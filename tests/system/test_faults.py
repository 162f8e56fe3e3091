"""A running server (Postgres + Redis backend) when a backend goes away.

Postgres restarted under the server: requests in the outage get 503 with Retry-After
(never a 500, never a hang), /health says so, and once Postgres is back the same
process answers again and the conversation carries on. Redis unreachable: the server
answers anyway (fail open: uncached, process-local locks) and /health says degraded.

The Postgres test stops the machine's real cluster (pg_ctlcluster, as root) for a few
seconds, and always starts it again before it ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from urllib.parse import urlsplit

import httpx
import psycopg

from tests.support import backends
from tests.conftest import db_rows, make_settings
from tests.support.servers import ServerProcess, free_port, postgres_env, private_var, turns

OUTAGE_TIMEOUT = 15.0  # a request in the outage must be answered within this
RECOVERY_TIMEOUT = 30.0  # the server answers again this soon after Postgres is back


# --- controlling the local Postgres cluster ---------------------------------------------


def cluster_version() -> str:
    """The local cluster's version (`ls /etc/postgresql`), or fail/skip saying why the
    test cannot restart Postgres."""
    if shutil.which("pg_ctlcluster") is None:
        backends.missing("postgres", "pg_ctlcluster is not installed: this test cannot restart Postgres")
    if os.geteuid() != 0:
        backends.missing("postgres", "not running as root: this test cannot restart Postgres")
    host = urlsplit(backends.POSTGRES_URL).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        backends.missing("postgres", f"TEST_POSTGRES_URL is on {host}, not the local cluster this test can restart")
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if len(versions) != 1:
        backends.missing("postgres", f"expected one cluster version in /etc/postgresql, found {versions}: cannot restart")
    return versions[0]


def pg_ctl(version: str, action: str, *options: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, *options],
        check=True,
        timeout=60,
        capture_output=True,
    )


def postgres_accepts() -> bool:
    try:
        with psycopg.connect(backends.POSTGRES_URL, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def wait_for_postgres(timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not postgres_accepts():
        if time.monotonic() > deadline:
            raise RuntimeError(f"Postgres does not accept connections {timeout:.0f} s after start")
        time.sleep(0.2)


def ensure_postgres_running(version: str) -> None:
    """Start the cluster unless it already accepts connections, and wait until it does."""
    if not postgres_accepts():
        try:
            pg_ctl(version, "start")
        except subprocess.CalledProcessError:
            pass  # e.g. already starting; waiting tells whether it came up
    wait_for_postgres()


def assert_database_unavailable(response: httpx.Response, what: str) -> None:
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text}"
    assert response.json()["error"] == "database_unavailable", f"{what}: {response.text}"
    retry_after = response.headers.get("Retry-After")
    assert retry_after is not None and int(retry_after) > 0, f"{what}: Retry-After {retry_after!r}"


# --- tests ------------------------------------------------------------------------------


def test_postgres_restart_under_a_running_server(seeded_var, embeddings, tmp_path, postgres_url, redis_prefix):
    version = cluster_version()
    var = private_var(seeded_var, tmp_path / "var", embeddings)
    settings = make_settings(var, DATABASE_URL=postgres_url)
    session, customer = "outage-1", "OUT-001"
    count_sql = "SELECT count(*) AS n FROM orders WHERE customer_id = :c"
    orders_before = db_rows(settings, count_sql, c=customer)[0].n

    server = ServerProcess(var, tmp_path / "server.log", postgres_env(postgres_url, redis_prefix))
    try:
        with httpx.Client(timeout=OUTAGE_TIMEOUT) as client:
            server.wait_ready(client)
            drafted = server.chat(client, "I need 200 12 inch pizza boxes", session, customer)
            assert drafted["pending_confirmation"] is True, drafted
            assert server.health(client)["status"] == "healthy"

            try:
                pg_ctl(version, "stop", "-m", "fast")
                assert not postgres_accepts()

                # The outage: every request is answered, quickly, with a retryable 503.
                for attempt in range(2):
                    assert_database_unavailable(server.post(client, "yes", session, customer), f"yes #{attempt}")
                assert_database_unavailable(server.post(client, "hi", "outage-new", customer), "a new session")
                assert_database_unavailable(
                    client.get(f"{server.url}/api/sessions/{session}/messages", params={"customer_id": customer}, headers=server.auth(customer)),
                    "transcript",
                )
                health = server.health(client)
                assert health["database"] == "disconnected", health
                assert health["status"] == "degraded", health
                assert health["redis"] == "connected", health
                assert server.proc.poll() is None, "the server must survive the outage"
            finally:
                ensure_postgres_running(version)

            # Postgres is back: the same process answers again, soon, without a restart.
            deadline = time.monotonic() + RECOVERY_TIMEOUT
            while True:
                probe = server.post(client, "hi", "outage-probe", customer)
                if probe.status_code == 200:
                    break
                assert probe.status_code == 503, f"{probe.status_code} {probe.text}\n{server.output()}"
                assert time.monotonic() < deadline, f"still {probe.text} {RECOVERY_TIMEOUT:.0f} s after Postgres restarted"
                time.sleep(0.5)

            # The draft made before the outage is still waiting for its "yes".
            placed = server.chat(client, "yes", session, customer)
            health = server.health(client)
            transcript = client.get(
                f"{server.url}/api/sessions/{session}/messages", params={"customer_id": customer}, headers=server.auth(customer)
            )
    finally:
        server.kill()

    assert placed["pending_confirmation"] is False, placed
    order = placed["order"]
    assert order is not None, placed
    assert [(l["sku"], l["quantity"]) for l in order["lines"]] == [("PB-12", 200)]
    assert placed["invoice"]["order_number"] == order["number"]
    assert health["database"] == "connected" and health["status"] == "healthy", health

    # The refused "yes"es placed nothing; the accepted one placed exactly one order.
    assert db_rows(settings, count_sql, c=customer)[0].n == orders_before + 1
    rows = db_rows(settings, "SELECT id FROM orders WHERE number = :n", n=order["number"])
    assert len(rows) == 1
    lines = db_rows(settings, "SELECT sku, quantity FROM order_lines WHERE order_id = :o", o=rows[0].id)
    assert [(l.sku, l.quantity) for l in lines] == [("PB-12", 200)]
    assert db_rows(settings, "SELECT count(*) AS n FROM invoices WHERE order_id = :o", o=rows[0].id)[0].n == 1

    # The conversation carried on across the outage; the refused turns did not happen.
    assert transcript.status_code == 200, f"{transcript.status_code} {transcript.text}\n{server.output()}"
    assert turns(transcript.json()["messages"]) == [
        ("customer", "I need 200 12 inch pizza boxes"),
        ("assistant", drafted["reply"]),
        ("customer", "yes"),
        ("assistant", placed["reply"]),
    ]


def test_server_answers_without_redis(seeded_var, embeddings, tmp_path, postgres_url):
    """Redis unreachable (nothing listens on its port): turns are answered uncached
    with process-local locks, and /health reports the degradation."""
    var = private_var(seeded_var, tmp_path / "var", embeddings)
    settings = make_settings(var, DATABASE_URL=postgres_url)
    session, customer = "no-redis-1", "OUT-001"
    count_sql = "SELECT count(*) AS n FROM orders WHERE customer_id = :c"
    orders_before = db_rows(settings, count_sql, c=customer)[0].n
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"

    server = ServerProcess(var, tmp_path / "server.log", postgres_env(postgres_url, "tria-test-no-redis", dead_redis))
    try:
        with httpx.Client(timeout=OUTAGE_TIMEOUT) as client:
            server.wait_ready(client)
            hello = server.chat(client, "hi", session, customer)
            days = server.chat(client, "what are your delivery days", session, customer)
            again = server.chat(client, "what are your delivery days", session, customer)
            drafted = server.chat(client, "I need 200 12 inch pizza boxes", session, customer)
            placed = server.chat(client, "yes", session, customer)
            health = server.health(client)
    finally:
        server.kill()

    assert hello["intent"] == "greeting", hello
    assert "Tuesday, Thursday and Saturday" in days["reply"] and again["reply"] == days["reply"]
    assert drafted["pending_confirmation"] is True, drafted
    assert placed["pending_confirmation"] is False and placed["order"] is not None, placed
    assert [(l["sku"], l["quantity"]) for l in placed["order"]["lines"]] == [("PB-12", 200)]
    assert db_rows(settings, count_sql, c=customer)[0].n == orders_before + 1

    assert health["redis"] == "disconnected", health
    assert health["database"] == "connected", health
    assert health["status"] == "degraded", health
