"""Where a turn's time outside the graph's nodes goes: timing spans around ChatService's
steps, in process, on one tree's code. Prints a Markdown table (ms per turn).

    PYTHONPATH=<tree> VAR_DIR=<seeded var> [DATABASE_URL=... REDIS_URL=...] \
        python scripts/profile_overhead.py [--turns 200] [--warmup 30] [--cprofile 25]

`scripts/bench_overhead.py --profile` seeds each tree and runs this for every backend.
The spans wrap, on the live objects (whatever exists in the tree; missing ones are
skipped): the access check's repository calls (run in a thread), the session lock, the
transcript writes, `graph.aget_state`, `graph.ainvoke` and, inside it, the saver's reads
and writes and every node (tria_node_duration_seconds), and `compact`. What ainvoke takes
beyond its nodes and the saver is LangGraph's own step overhead. With --cprofile N, the
event-loop thread is also profiled (cProfile) and its top N functions by own time are
printed: pydantic, JSON, LangGraph internals (the nodes and database calls sent to
threads are not in it).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections import defaultdict
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_overhead import CUSTOMERS, SCRIPT, vary  # noqa: E402

SPANS: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = defaultdict(int)


def add(label: str, seconds: float) -> None:
    SPANS[label] += seconds
    COUNTS[label] += 1


def wrap_async(obj, name: str, label) -> None:
    fn = getattr(obj, name, None)
    if fn is None:
        print(f"(no {type(obj).__name__}.{name} in this tree)", file=sys.stderr)
        return

    async def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            add(label(*args, **kwargs) if callable(label) else label, time.perf_counter() - started)

    setattr(obj, name, timed)


def wrap_sync(obj, name: str, label: str) -> None:
    fn = getattr(obj, name, None)
    if fn is None:
        print(f"(no {type(obj).__name__}.{name} in this tree)", file=sys.stderr)
        return

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            add(label, time.perf_counter() - started)

    setattr(obj, name, timed)


def node_seconds() -> float:
    from prometheus_client import REGISTRY

    return sum(s.value for m in REGISTRY.collect() for s in m.samples if s.name == "tria_node_duration_seconds_sum")


def instrument(service) -> None:
    import tria_graph.conversation as conversation

    repo = service.context.repository
    for name in ("touch_session", "outlet", "bind_session", "session_owner"):
        wrap_sync(repo, name, f"access check: repository.{name} (in a thread)")
    if hasattr(service, "check_access"):
        wrap_sync(service, "check_access", "access check: whole (in a thread)")
    wrap_async(service, "_record",
               lambda message, *a, **k: f"transcript write: {getattr(message, 'type', '?')} message"
               if not isinstance(message, str) else f"transcript write: {getattr(a[0], 'type', '?')} message")
    wrap_async(service.graph, "aget_state", "graph.aget_state (before the turn)")
    wrap_async(service.graph, "ainvoke", "graph.ainvoke (whole)")
    saver = getattr(service, "saver", None) or getattr(service.graph, "checkpointer", None)
    if saver is not None:
        for name in ("aget_tuple", "aput", "aput_writes", "alist"):
            wrap_async(saver, name, f"saver.{name}")
    if hasattr(conversation, "compact"):
        original = conversation.compact

        async def compact(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                add("compact (every HISTORY_TURNS turns)", time.perf_counter() - started)

        conversation.compact = compact
    locks = getattr(service, "locks", None)
    if locks is not None and hasattr(locks, "hold"):
        hold = locks.hold

        @asynccontextmanager
        async def timed_hold(session_id):
            started = time.perf_counter()
            async with hold(session_id):
                add("session lock: acquire", time.perf_counter() - started)
                yield

        locks.hold = timed_hold


async def run(turns: int, warmup: int, top: int) -> None:
    from tria_graph.bootstrap import open_chat_service

    per_turn: list[dict[str, float]] = []
    calls: list[dict[str, int]] = []
    profile = cProfile.Profile() if top else None
    async with open_chat_service() as service:
        instrument(service)
        for i in range(warmup + turns):
            conversation, step = divmod(i, len(SCRIPT))
            message = vary(SCRIPT[step])
            classifier = getattr(service.context, "classifier", None)
            if classifier is not None and hasattr(getattr(classifier, "embeddings", None), "clear_cache"):
                classifier.embeddings.clear_cache()
            SPANS.clear()
            COUNTS.clear()
            nodes = node_seconds()
            if profile and i >= warmup:
                profile.enable()
            started = time.perf_counter()
            await service.send(f"profile-{conversation}", CUSTOMERS[conversation % len(CUSTOMERS)], message)
            total = time.perf_counter() - started
            if profile and i >= warmup:
                profile.disable()
            if i >= warmup:
                spans = dict(SPANS)
                calls.append(dict(COUNTS))
                spans["ChatService.send (whole turn)"] = total
                spans["nodes (tria_node_duration_seconds)"] = node_seconds() - nodes
                per_turn.append(spans)

    labels = sorted({k for t in per_turn for k in t})
    mean = {k: statistics.mean(t.get(k, 0.0) for t in per_turn) * 1000 for k in labels}
    median = {k: statistics.median(t.get(k, 0.0) for t in per_turn) * 1000 for k in labels}
    send, nodes = mean["ChatService.send (whole turn)"], mean["nodes (tria_node_duration_seconds)"]
    invoke = mean.get("graph.ainvoke (whole)", 0.0)
    saver_inside = sum(mean.get(f"saver.{n}", 0.0) for n in ("aget_tuple", "aput", "aput_writes"))
    derived = {
        "= outside the nodes (send − nodes)": send - nodes,
        "= LangGraph's own time in ainvoke (ainvoke − nodes − saver calls, approximately: saver.aget_tuple also "
        "counts aget_state's read)": invoke - nodes - saver_inside + mean.get("graph.aget_state (before the turn)", 0.0),
        "= send − ainvoke − access check − transcript writes − aget_state − lock − compact (rest of ChatService)":
            send - invoke - sum(v for k, v in mean.items() if k.startswith(("access check: whole", "transcript write",
                                                                             "graph.aget_state", "session lock",
                                                                             "compact"))),
    }
    print(f"\n{turns} turns in process after {warmup} warm-up turns, mixed conversation (ms per turn; "
          "spans overlap where noted)\n")
    print("| span | mean | median | calls per turn |\n|---|---|---|---|")
    for k in sorted(labels, key=lambda k: -mean[k]):
        count = statistics.mean(c.get(k, 0) for c in calls) if k in COUNTS or any(k in c for c in calls) else 1
        print(f"| {k} | {mean[k]:.2f} | {median[k]:.2f} | {count:.2f} |")
    for k, v in derived.items():
        print(f"| {k} | {v:.2f} | | |")
    print("\nThe customer's transcript write and graph.aget_state run together (asyncio.gather), so the "
          "last line can be negative. saver.aget_tuple counts aget_state's read and ainvoke's own; the nodes "
          "are timed inside their worker thread, so handing a sync node to a thread and back is LangGraph's time.")
    if profile:
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        print(f"\nEvent-loop thread, cProfile, top {top} by own time over the {turns} measured turns "
              "(divide by the turns for ms per turn):\n\n```")
        text = out.getvalue()
        print(text[text.find("ncalls"):].rstrip())
        print("```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--cprofile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    asyncio.run(run(args.turns, args.warmup, args.cprofile))


if __name__ == "__main__":
    main()
