"""The cost of going distributed on one machine: the same work on a local pool and on a
pool of Ray actors (``PoolSettings(backend="ray")``), side by side in one run.

For each backend, 2 workers (2 worker processes, or 2 Ray actors on a local Ray this run
starts), in a runtime of its own:

- start-up: seconds from opening the runtime to the pool taking calls (for Ray, starting
  Ray itself is included: a service pays it once);
- throughput: ``dispatch`` over the integers in batches of 64, at most 4 in flight, for
  the trivial and the ~50 µs-per-item workloads of bench/workloads.py (items/s);
- round trip: sequential 1-item calls (µs each, median);
- memory: the resident memory of the workers (for Ray: of every Ray process, its daemons
  included, which a local pool does not need), summed from /proc.

The backends take turns round by round; figures are medians over the rounds. Nothing is
asserted: this is a report. Run it from the repository root::

    python bench/ray.py            # 3 rounds of 20,000 items
    python bench/ray.py --quick    # 1 round of 5,000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = str(Path(__file__).resolve().parent)
# This file is named ray.py: with its folder first on the path, `import ray` would find it.
sys.path[:] = [entry for entry in sys.path if str(Path(entry or ".").resolve()) != BENCH]

import trio  # noqa: E402

import slither_actors as sa  # noqa: E402

BACKENDS = ("processes", "ray")


def settings(backend: str) -> sa.Settings:
    pool = sa.PoolSettings(
        name="bench", size=2, cwd=BENCH, preload=("workloads",), backend=sa.Backend(backend)
    )
    return sa.Settings(pools=(pool,))


def resident_mb(backend: str, pool: Any) -> float:
    """The workers' resident memory (for Ray, every process of Ray's), in MB."""
    if backend == "processes":
        pids = [worker.pid for worker in pool.workers()]
    else:
        pids = [pid for pid, command in _processes() if b"ray" in command]
    return sum(_rss(pid) for pid in pids) / 2**20


def _processes() -> list[tuple[int, bytes]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                found.append((int(entry.name), (entry / "cmdline").read_bytes()))
            except OSError:
                continue
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


async def one_round(backend: str, items: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    began = time.perf_counter()
    async with sa.open_runtime(settings(backend)) as runtime:
        pool = await runtime.pool("bench")
        await pool.call("workloads:trivial_batch", [0])
        figures["start-up, s"] = time.perf_counter() - began
        for workload in ("trivial", "cpu"):
            executor = sa.WorkerExecutor("workloads", f"{workload}_batch", pool="bench")
            started = time.perf_counter()
            await sa.dispatch(range(items), executor=executor, batch_size=64, max_in_flight=4)
            figures[f"{workload}, items/s"] = items / (time.perf_counter() - started)
        trips = []
        for number in range(200):
            started = time.perf_counter()
            await pool.call("workloads:trivial_batch", [number])
            trips.append(time.perf_counter() - started)
        figures["round trip, µs"] = statistics.median(trips) * 1e6
        figures["memory, MB"] = resident_mb(backend, pool)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 5,000 items")
    quick = parser.parse_args().quick
    rounds, items = (1, 5_000) if quick else (3, 20_000)
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; 2 workers each; {rounds} "
        f"rounds of {items:,} items in batches of 64, at most 4 in flight"
    )
    runs: dict[str, list[dict[str, float]]] = {backend: [] for backend in BACKENDS}
    for number in range(rounds):
        order = BACKENDS if number % 2 == 0 else BACKENDS[::-1]
        for backend in order:
            runs[backend].append(trio.run(one_round, backend, items))
    names = list(runs["processes"][0])
    print(f"\n  {'':<20}{'local pool':>14}{'Ray actors':>14}{'Ray / local':>14}")
    for name in names:
        local = statistics.median(run[name] for run in runs["processes"])
        ray = statistics.median(run[name] for run in runs["ray"])
        print(f"  {name:<20}{local:>14,.1f}{ray:>14,.1f}{ray / local:>13.2f}x")


if __name__ == "__main__":
    main()
