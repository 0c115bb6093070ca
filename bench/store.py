"""Store speed: direct reads, serialized writes and worker view round trips, with floors.

Measured in one run:

- reads: ``store.get(table, key)``, ``store.table(table).get(key)`` and a held table's
  ``get`` against a plain dict's ``get`` (the floor), 1,000,000 lookups in 10,000 keys;
- writes: ``await store.put(...)`` (through the store's actor) against a bare trio memory
  channel round trip (the floor of any serialized write);
- a worker -> view -> reply round trip (a 1-item call whose function calls one view)
  against a plain 1-item worker call.

Medians over the rounds; nothing is asserted. Run it from the repository root::

    python bench/store.py            # full run
    python bench/store.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trio

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import slither_actors as sa  # noqa: E402

KEYS = 10_000


class Numbers(sa.Store):
    """10,000 numbers, and a view a worker reads them through."""

    tables = (sa.Table("numbers", "set"),)

    async def load(self, tables: Any) -> None:
        tables["numbers"].put_many((key, key * 2) for key in range(KEYS))

    @sa.view(scope="global")
    def value_of(self, params: dict[str, Any], ctx: sa.Context) -> Any:
        return self.get("numbers", params["key"])


def time_reads(store: sa.Store, lookups: int) -> dict[str, float]:
    """Nanoseconds per read, for each way of reading and for a plain dict."""
    plain = {key: key * 2 for key in range(KEYS)}
    keys = [number % KEYS for number in range(lookups)]
    held = store.table("numbers")
    ways = {
        "dict.get (floor)": lambda key: plain.get(key),
        "store.get(table, key)": lambda key: store.get("numbers", key),
        "store.table(table).get(key)": lambda key: store.table("numbers").get(key),
        "held table .get(key)": lambda key: held.get(key),
    }
    results = {}
    for name, read in ways.items():
        start = time.perf_counter_ns()
        for key in keys:
            read(key)
        results[name] = (time.perf_counter_ns() - start) / lookups
    return results


async def time_writes(store: sa.Store, writes: int) -> dict[str, float]:
    """Writes per second through the store, and round trips per second of a bare channel."""
    start = time.perf_counter()
    for number in range(writes):
        await store.put("numbers", number % KEYS, number)
    ours = writes / (time.perf_counter() - start)

    request_send, request_receive = trio.open_memory_channel[Any](64)
    reply_send, reply_receive = trio.open_memory_channel[Any](0)

    async def serve() -> None:
        async for message in request_receive:
            await reply_send.send(message)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        start = time.perf_counter()
        for number in range(writes):
            await request_send.send(number)
            await reply_receive.receive()
        floor = writes / (time.perf_counter() - start)
        await request_send.aclose()
    return {"bare channel round trip (floor)": floor, "store.put": ours}


async def time_views(runtime: sa.Runtime, calls: int) -> dict[str, float]:
    """Median seconds of a plain 1-item worker call and of one that calls a view."""
    pool = await runtime.pool("bench")
    samples: dict[str, list[float]] = {
        "plain 1-item worker call": [],
        "worker -> view -> reply": [],
    }
    targets = {
        "plain 1-item worker call": "workloads:trivial_batch",
        "worker -> view -> reply": "workloads:view_once",
    }
    for block in range(calls // 100 + 1):
        for name, target in targets.items():
            for number in range(100):
                start = time.perf_counter()
                await pool.call(target, [number])
                if block:  # the first block warms up
                    samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


async def measure(
    rounds: int, lookups: int, writes: int, calls: int
) -> dict[str, dict[str, float]]:
    settings = sa.Settings(
        pools=(sa.PoolSettings(name="bench", size=1, cwd=str(BENCH), preload=("workloads",)),)
    )
    runs: dict[str, dict[str, list[float]]] = {"reads": {}, "writes": {}, "views": {}}
    async with sa.open_runtime(settings) as runtime:
        store = await runtime.start_store(Numbers)
        for _ in range(rounds):
            for section, figures in (
                ("reads", time_reads(store, lookups)),
                ("writes", await time_writes(store, writes)),
                ("views", await time_views(runtime, calls)),
            ):
                for name, value in figures.items():
                    runs[section].setdefault(name, []).append(value)
    return {
        section: {name: statistics.median(values) for name, values in by_name.items()}
        for section, by_name in runs.items()
    }


def report(results: dict[str, dict[str, float]]) -> None:
    reads, writes, views = results["reads"], results["writes"], results["views"]
    floor = reads["dict.get (floor)"]
    print("\nreads: ns per lookup, and vs a plain dict")
    for name, nanoseconds in reads.items():
        print(f"  {name:<30}{nanoseconds:>8.1f} ns{nanoseconds / floor:>8.2f}x")
    print("\nserialized writes: per second, and vs a bare channel round trip")
    channel = writes["bare channel round trip (floor)"]
    for name, rate in writes.items():
        print(f"  {name:<30}{rate:>12,.0f}/s{rate / channel:>8.2f}x")
    print("\nround trip: median, and vs a plain 1-item worker call")
    plain = views["plain 1-item worker call"]
    for name, seconds in views.items():
        print(f"  {name:<30}{seconds * 1e6:>9.1f} µs{seconds / plain:>8.2f}x")

    print("\ngoals")
    best = min(reads["store.table(table).get(key)"], reads["store.get(table, key)"])
    goal(
        "reads within 2x a plain dict lookup (store.table(t).get)",
        reads["store.table(table).get(key)"] / floor,
    )
    goal("reads within 2x a plain dict lookup (store.get)", reads["store.get(table, key)"] / floor)
    view_ratio = views["worker -> view -> reply"] / plain
    print(
        f"  view round trip <= 2x a plain 1-item worker call: {view_ratio:.2f}x, "
        f"{'met' if view_ratio <= 2 else 'NOT met'}"
    )
    _ = best


def goal(text: str, ratio: float) -> None:
    print(f"  {text}: {ratio:.2f}x, {'met' if ratio <= 2 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations, one round")
    quick = parser.parse_args().quick
    rounds, lookups, writes, calls = (
        (1, 100_000, 2_000, 200) if quick else (5, 1_000_000, 20_000, 1000)
    )
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {rounds} rounds")
    report(trio.run(measure, rounds, lookups, writes, calls))


if __name__ == "__main__":
    main()
