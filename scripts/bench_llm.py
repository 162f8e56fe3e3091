"""LLM-mode figures against the fake OpenAI-compatible server (tests/support/fake_openai.py),
printed as Markdown for docs/llm.md.

1. Calls and tokens per turn on a mixed conversation set: every message of the eval
   datasets (intents, policy questions, adversarial messages, multi-turn order
   scenarios), in process. The fake answers a classification with the message's label
   from the dataset (the offline classifier's answer when it has none) and a reply with the correct reply
   it was given, so the counts are the pipeline's, not a model's whims. Token counts are
   the fake's estimate (4 characters a token), not a real tokenizer's.
2. Pipeline overhead with the fake answering instantly: the whole turn is overhead;
   p50/p95 per turn, beside the offline mode on the same turns.
3. Time to first streamed token over HTTP (`tria serve` subprocess, POST
   /api/chatbot/stream) minus the model's own first-token time (the fake waits
   FIRST_TOKEN_DELAY before its first token).
4. Fallback: time from the model's failure to the answer (a 500 at once; a call slower
   than OPENAI_TIMEOUT=1 s, timed from the timeout).

    VAR_DIR=var .venv/bin/python scripts/bench_llm.py      # after `make seed kb`
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fake_openai import FakeOpenAI, classification  # noqa: E402
from tests.support.servers import ServerProcess  # noqa: E402

FIRST_TOKEN_DELAY = 0.3
DATASETS = ROOT / "eval" / "datasets"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def private_var(source: Path) -> Path:
    var = Path(tempfile.mkdtemp(prefix="tria-bench-llm-"))
    shutil.copy(source / "tria.db", var / "tria.db")
    for name in ("chroma", "models"):
        (var / name).symlink_to((source / name).resolve())
    return var


def conversations() -> tuple[list[tuple[str, list[str]]], dict[str, str]]:
    """(customer, messages) per conversation, and each labelled message's intent."""
    convs: list[tuple[str, list[str]]] = []
    labels: dict[str, str] = {}
    for name in ("intents", "policies", "adversarial", "scenarios"):
        for line in (DATASETS / f"{name}.jsonl").read_text().splitlines():
            case = json.loads(line)
            if "turns" in case:
                messages = [t if isinstance(t, str) else t["message"] for t in case["turns"]]
            else:
                messages = [case["message"]]
                if case.get("intent"):
                    labels[case["message"]] = case["intent"]
            convs.append((case.get("customer", "OUT-001"), messages))
    return convs, labels


def env_for(fake: FakeOpenAI, var: Path, **extra) -> dict[str, str]:
    return {
        "VAR_DIR": str(var), "DATABASE_URL": "", "CHECKPOINT_DB": "", "CHROMA_DIR": "",
        "CHROMA_HOST": "", "REDIS_URL": "", "RATE_LIMIT_ENABLED": "false",
        "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake.base_url, **extra,
    }


async def run_turns(var: Path, env: dict[str, str], convs, fake: FakeOpenAI, labels: dict[str, str]) -> list:
    os.environ.update(env)
    from tria_graph.bootstrap import open_chat_service
    from tria_graph.config import Settings

    results = []
    async with open_chat_service(Settings()) as service:
        # The fake "model" classifies by the dataset's label, else as the offline
        # classifier would (scenario turns carry no label).
        fake.classifier = lambda text: classification(
            labels.get(text) or service.context.classifier.predict(text)[0], 0.9
        )
        await service.send("warmup", "OUT-001", "hello")
        for n, (customer, messages) in enumerate(convs):
            for message in messages:
                service.context.classifier.embeddings.clear_cache()
                started = time.perf_counter()
                result = await service.send(f"bench-{n}", customer, message)
                results.append((result, (time.perf_counter() - started) * 1000))
    return results


def calls_table(results) -> list[str]:
    by_intent: dict[str, list] = {}
    for result, _ in results:
        by_intent.setdefault(result.intent, []).append(result)
    rows = ["| intent | turns | LLM calls / turn | tokens / turn |", "|---|---|---|---|"]
    for intent, rs in sorted(by_intent.items()):
        rows.append(
            f"| {intent} | {len(rs)} | {statistics.mean(r.llm_calls for r in rs):.2f} "
            f"| {statistics.mean(r.llm_tokens for r in rs):.0f} |"
        )
    all_r = [r for r, _ in results]
    rows.append(
        f"| **all** | {len(all_r)} | **{statistics.mean(r.llm_calls for r in all_r):.2f}** "
        f"| {statistics.mean(r.llm_tokens for r in all_r):.0f} |"
    )
    return rows


def time_to_first_token(fake: FakeOpenAI, var: Path, n: int = 30) -> tuple[list[float], list[float]]:
    """(ms to the first token event, ms to the done event) over HTTP, per request."""
    fake.first_token_delay = FIRST_TOKEN_DELAY
    server = ServerProcess(var, var / "server.log", env_for(fake, var, LLM_CLASSIFY_BELOW="0"))
    firsts, totals = [], []
    try:
        with httpx.Client(timeout=30) as client:
            server.wait_ready(client)
            questions = ["what are your payment terms", "how much to cancel 6 hours before delivery",
                         "what are your delivery days?"]
            for i in range(n + 2):
                body = {"message": questions[i % 3], "session_id": f"ttft-{i}", "customer_id": "OUT-001"}
                started = time.perf_counter()
                first = None
                with client.stream("POST", f"{server.url}/api/chatbot/stream", json=body) as response:
                    for line in response.iter_lines():
                        if line == "event: token" and first is None:
                            first = (time.perf_counter() - started) * 1000
                total = (time.perf_counter() - started) * 1000
                if i >= 2:  # the first two warm the server up
                    firsts.append(first)
                    totals.append(total)
    finally:
        server.kill()
        fake.first_token_delay = 0.0
    return firsts, totals


async def fallback_times(var: Path, fake: FakeOpenAI) -> dict[str, list[float]]:
    os.environ.update(env_for(fake, var, LLM_CLASSIFY_BELOW="0", OPENAI_TIMEOUT="1"))
    from tria_graph.bootstrap import open_chat_service
    from tria_graph.config import Settings

    out: dict[str, list[float]] = {"500 at once": [], "slower than OPENAI_TIMEOUT (1 s)": []}
    async with open_chat_service(Settings()) as service:
        await service.send("warmup", "OUT-001", "hello")
        for i in range(10):
            for label, step, waited in (("500 at once", {"status": 500}, 0.0),
                                        ("slower than OPENAI_TIMEOUT (1 s)", {"delay": 3.0}, 1.0)):
                # A fresh breaker each time: we time the failure, not the open breaker.
                service.context.llm.breaker.close()
                fake.script("reply", step)
                started = time.perf_counter()
                result = await service.send(f"fb-{label}-{i}", "OUT-001", "what are your payment terms")
                assert result.degraded, result
                out[label].append((time.perf_counter() - started - waited) * 1000)
    return out


def main() -> None:
    source = Path(os.environ.get("VAR_DIR", "var"))
    if not (source / "tria.db").exists():
        sys.exit(f"{source}/tria.db not found: run `make seed kb` first")
    convs, labels = conversations()
    fake = FakeOpenAI().start()
    lines: list[str] = []
    try:
        var = private_var(source)
        llm = asyncio.run(run_turns(var, env_for(fake, var), convs, fake, labels))
        var_off = private_var(source)
        offline = asyncio.run(run_turns(var_off, {**env_for(fake, var_off), "OPENAI_API_KEY": ""}, convs, fake, labels))
        turns = len(llm)
        lines += [f"### Calls and tokens per turn ({turns} turns, {len(convs)} conversations, LLM_CLASSIFY_BELOW=0.8)", ""]
        lines += calls_table(llm)
        lines += ["", "### Pipeline time per turn, the fake model answering at once", "",
                  "| mode | p50 ms | p95 ms |", "|---|---|---|"]
        for name, rs in (("LLM (fake, instant)", llm), ("offline", offline)):
            ms = [t for _, t in rs]
            lines.append(f"| {name} | {percentile(ms, 50):.1f} | {percentile(ms, 95):.1f} |")

        firsts, totals = time_to_first_token(fake, private_var(source))
        lines += ["", f"### Time to first streamed token over HTTP (model's own first token: {FIRST_TOKEN_DELAY * 1000:.0f} ms)", "",
                  "| | p50 ms | p95 ms |", "|---|---|---|",
                  f"| request to first `token` event | {percentile(firsts, 50):.0f} | {percentile(firsts, 95):.0f} |",
                  f"| minus the model's first-token time | {percentile(firsts, 50) - FIRST_TOKEN_DELAY * 1000:.0f} | {percentile(firsts, 95) - FIRST_TOKEN_DELAY * 1000:.0f} |",
                  f"| request to `done` event | {percentile(totals, 50):.0f} | {percentile(totals, 95):.0f} |"]

        fallbacks = asyncio.run(fallback_times(private_var(source), fake))
        lines += ["", "### From the model's failure to the offline answer", "", "| failure | p50 ms | max ms |", "|---|---|---|"]
        for label, ms in fallbacks.items():
            lines.append(f"| {label} | {percentile(ms, 50):.0f} | {max(ms):.0f} |")
    finally:
        fake.stop()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
