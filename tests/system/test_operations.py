"""What operators see: /health with each dependency and its latency, /metrics in
Prometheus format, a Chroma server instead of embedded Chroma, and Redis failing open."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import backends
from tests.conftest import make_settings
from tests.integration.test_server import private_var, serving, wait_ready
from tria_graph.adapters.policy_kb import PolicyKB, catalog_passages, load_policy_passages
from tria_graph.config import DATA_DIR
from tria_graph.demo_data import catalog_products

CHAT = "/api/chatbot"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: dict, name: str, **labels) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def test_health_reports_redis_and_every_probe_latency(seeded_var, tmp_path, redis_prefix):
    var = private_var(seeded_var, tmp_path / "var")
    with serving(var, env={"REDIS_URL": backends.REDIS_URL, "REDIS_KEY_PREFIX": redis_prefix}) as client:
        wait_ready(client)
        body = client.get("/health").json()
    assert body["status"] == "healthy"
    assert (body["database"], body["redis"], body["chromadb"]) == ("connected",) * 3
    assert set(body["latency_ms"]) == {"database", "redis", "chromadb"}
    assert all(0 <= ms < 5000 for ms in body["latency_ms"].values())


def test_redis_down_degrades_health_but_every_turn_is_answered(seeded_var, tmp_path):
    var = private_var(seeded_var, tmp_path / "var")
    with serving(var, env={"REDIS_URL": "redis://127.0.0.1:1/0"}) as client:
        wait_ready(client)
        for i, message in enumerate(["hi", "what are your payment terms", "where is my order", "what are your payment terms"]):
            response = client.post(CHAT, json={"message": message, "session_id": "no-redis", "customer_id": "OUT-001"})
            assert response.status_code == 200, response.text
            assert response.json()["reply"]
        health = client.get("/health").json()
    assert health["status"] == "degraded"
    assert health["redis"] == "disconnected"
    assert health["database"] == "connected"


SCRAPE = {"Authorization": "Bearer scrape-me"}


def test_metrics_count_requests_caches_nodes_and_checkpoint_writes(seeded_var, tmp_path):
    var = private_var(seeded_var, tmp_path / "var")
    # TestClient's client is no loopback address: /metrics is read with its token.
    with serving(var, env={"METRICS_TOKEN": "scrape-me"}) as client:
        wait_ready(client)
        before = samples(client.get("/metrics", headers=SCRAPE).text)
        for message in ["what are your payment terms", "what are your payment terms", "hello"]:
            assert client.post(CHAT, json={"message": message, "session_id": "m-1", "customer_id": "OUT-002"}).status_code == 200
        client.post(CHAT, json={"message": "", "session_id": "m-1", "customer_id": "OUT-002"})  # a 422
        response = client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tria_http_requests_total", method="POST", route=CHAT, status="200") == 3
    assert delta("tria_http_requests_total", method="POST", route=CHAT, status="422") == 1
    assert delta("tria_http_request_duration_seconds_count", method="POST", route=CHAT) == 4
    # The repeated question hits the intent, policy and response caches.
    assert delta("tria_cache_hits_total", cache="intent") >= 1
    assert delta("tria_cache_hits_total", cache="response") >= 1
    assert delta("tria_cache_misses_total", cache="intent") >= 2
    assert delta("tria_node_duration_seconds_count", node="classify") == 3
    assert delta("tria_node_duration_seconds_count", node="respond") == 3
    assert delta("tria_checkpoint_write_seconds_count", operation="put") == 3  # one per turn
    assert delta("tria_turns_total", intent="policy_question") == 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """A Chroma server (the chromadb package's own `chroma run`) on a free port."""
    chroma = os.path.join(os.path.dirname(os.sys.executable), "chroma")
    port = free_port()
    process = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path_factory.mktemp("chroma-server")), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "chroma run exited"
            assert time.monotonic() < deadline, "the Chroma server did not start"
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_chroma_host_selects_a_chroma_server(chroma_server, embeddings, seeded_var, tmp_path):
    remote = PolicyKB.from_settings(
        make_settings(tmp_path, CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(chroma_server)), embeddings
    )
    passages = load_policy_passages(DATA_DIR / "policies") + catalog_passages(catalog_products())
    assert remote.build(passages) == len(passages)
    local = PolicyKB.from_settings(make_settings(seeded_var), embeddings)
    question = "how much does it cost to cancel 12 hours before delivery"
    assert [p["text"] for p in remote.search(question)] == [p["text"] for p in local.search(question)]
    assert remote.version == local.version

    # The server uses it too: /health probes the Chroma server.
    var = private_var(seeded_var, tmp_path / "var")
    with serving(var, env={"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(chroma_server)}) as client:
        wait_ready(client)
        assert client.get("/health").json()["chromadb"] == "connected"
        reply = client.post(CHAT, json={"message": question, "session_id": "c-1", "customer_id": "OUT-001"}).json()
    assert reply["intent"] == "policy_question" and reply["sources"]
