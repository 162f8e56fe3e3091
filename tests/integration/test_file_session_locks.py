"""FileSessionLocks: one turn at a time per session across worker processes of one
machine (the embedded backend under `uvicorn --workers N`), through lock files.

The holders here are real processes, as uvicorn's workers are: forked from a fork
server that imported this module once (importing tria_graph takes seconds), so nothing
a test thread holds is inherited.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tria_graph.adapters.session_locks import FileSessionLocks, SessionBusy

HOLD = 0.6  # seconds each holder keeps the lock
SPAWN = multiprocessing.get_context("forkserver")
SPAWN.set_forkserver_preload([__name__])


def hold_in_process(directory: str, session_id: str, go, held, hold: float, results) -> None:
    """A child process: wait for `go`, take the session's lock, keep it `hold` seconds,
    report (session, got it, released) as wall-clock times."""

    async def run() -> None:
        locks = FileSessionLocks(directory, timeout=30)
        go.wait(60)
        async with locks.hold(session_id):
            got = time.time()
            held.set()
            await asyncio.sleep(hold)
            released = time.time()
        results.put((session_id, got, released))

    asyncio.run(run())


def start_holders(directory: Path, sessions: list[str], hold: float = HOLD):
    go, held, results = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
    processes = [
        SPAWN.Process(target=hold_in_process, args=(str(directory), s, go, held, hold, results), daemon=True)
        for s in sessions
    ]
    for p in processes:
        p.start()
    return processes, go, held, results


def finish(processes, results, count: int) -> list[tuple[str, float, float]]:
    try:
        spans = [results.get(timeout=120) for _ in range(count)]
        for p in processes:
            p.join(30)
            assert p.exitcode == 0
        return spans
    finally:
        for p in processes:
            if p.is_alive():
                p.kill()
                p.join()


def test_two_processes_holding_one_session_run_one_after_the_other(tmp_path):
    processes, go, _, results = start_holders(tmp_path / "locks", ["s-1", "s-1"])
    time.sleep(0.2)
    go.set()
    first, second = sorted(finish(processes, results, 2), key=lambda span: span[1])
    assert first[2] <= second[1], f"the holds overlapped: {first} {second}"


def test_different_sessions_run_concurrently(tmp_path):
    processes, go, _, results = start_holders(tmp_path / "locks", ["s-1", "s-2"], hold=2.0)
    go.set()
    spans = finish(processes, results, 2)
    assert max(got for _, got, _ in spans) < min(released for _, _, released in spans), spans


def test_a_lock_not_taken_in_time_raises_session_busy_and_a_killed_holder_frees_it(tmp_path):
    directory = tmp_path / "locks"
    processes, go, held, _ = start_holders(directory, ["s-1"], hold=60)
    try:
        go.set()
        assert held.wait(120), "the holder never took the lock"
        locks = FileSessionLocks(directory, timeout=0.3)

        async def turn() -> None:
            async with locks.hold("s-1"):
                pass

        started = time.perf_counter()
        with pytest.raises(SessionBusy):
            asyncio.run(turn())
        assert 0.25 <= time.perf_counter() - started < 5
        # Another session is not held up by it.
        async def other() -> None:
            async with locks.hold("s-2"):
                pass

        asyncio.run(other())
        # The holder dies mid-turn: the kernel drops its lock; the file left behind
        # does not matter.
        processes[0].kill()
        processes[0].join(30)
        asyncio.run(turn())
    finally:
        for p in processes:
            if p.is_alive():
                p.kill()
                p.join()


def test_turns_of_one_session_in_one_process_queue_and_are_timed(tmp_path):
    locks = FileSessionLocks(tmp_path / "locks", timeout=10)
    order: list[str] = []
    observed = REGISTRY.get_sample_value("tria_session_lock_wait_seconds_count") or 0.0

    async def turn(name: str) -> None:
        async with locks.hold("same session / any characters"):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    async def main() -> None:
        await asyncio.gather(turn("a"), turn("b"), turn("c"))

    asyncio.run(main())
    assert order == ["a in", "a out", "b in", "b out", "c in", "c out"]
    assert REGISTRY.get_sample_value("tria_session_lock_wait_seconds_count") == observed + 3
    # One lock file per session, named by a hash of its id.
    assert [p.name for p in (tmp_path / "locks").iterdir()] == [locks.path_for("same session / any characters").name]


# --- WORKERS: `tria serve` runs one worker per core unless told otherwise ----------------


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [({}, [], "cpu"), ({"WORKERS": ""}, [], "cpu"), ({"WORKERS": "3"}, [], 3), ({"WORKERS": "3"}, ["--workers", "2"], 2)],
)
def test_serve_passes_the_workers_setting_to_uvicorn(monkeypatch, tmp_path, env, args, expected):
    import os

    import uvicorn
    from typer.testing import CliRunner

    from tria_graph.cli import app
    from tria_graph.config import get_settings

    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("WORKERS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app_path, **kwargs: calls.append((app_path, kwargs)))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", *args])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    (app_path, kwargs), = calls
    assert isinstance(app_path, str)  # an import string: uvicorn needs one for workers > 1
    assert kwargs["workers"] == (os.cpu_count() or 1 if expected == "cpu" else expected)
