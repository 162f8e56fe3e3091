"""Install figures for docs/packaging.md: venv sizes and `import tria_graph` time.

    python scripts/bench_install.py --venv today=/work/main/.venv --venv core=/tmp/venv-core \
        --venv all=/tmp/venv-all --imports before=/work/main/.venv:/tmp/pack-before \
        --imports after=/work/main/.venv:. --imports core=/tmp/venv-core:/tmp

--venv NAME=DIR prints the size of DIR (du) and whether torch is in it. --imports
NAME=VENV:DIR times `import tria_graph` with VENV's python started in DIR (so a source
tree in DIR wins over the installed package): the median of --runs fresh processes,
each timing the import alone with perf_counter (interpreter start-up excluded).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
from pathlib import Path

TIMER = "import time; t = time.perf_counter(); import tria_graph; print(time.perf_counter() - t)"


def size_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True).stdout
    return float(out.split()[0])


def has_torch(venv: Path) -> bool:
    return any(venv.glob("lib/python*/site-packages/torch"))


def import_seconds(venv: Path, cwd: Path, runs: int) -> list[float]:
    python = venv / "bin" / "python"
    return [
        float(subprocess.run([str(python), "-c", TIMER], cwd=cwd, capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--venv", action="append", default=[], help="NAME=DIR")
    parser.add_argument("--imports", action="append", default=[], help="NAME=VENV:DIR")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for spec in args.venv:
        name, _, path = spec.partition("=")
        print(f"venv {name:8} {size_mb(Path(path)):7.0f} MB  torch: {'yes' if has_torch(Path(path)) else 'no'}  ({path})")
    for spec in args.imports:
        name, _, rest = spec.partition("=")
        venv, _, cwd = rest.partition(":")
        times = import_seconds(Path(venv), Path(cwd), args.runs)
        print(f"import {name:8} median {statistics.median(times):.2f} s  (min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs)")


if __name__ == "__main__":
    main()
