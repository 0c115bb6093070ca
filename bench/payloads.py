"""Payload types: what it costs to send a numpy array, bytes, or the same numbers as a list.

Measured in one run, on one worker process that returns each payload as it came
(``workloads:echo_batch``), timing `WorkerPool.call` round trips of one payload:

- an 8 MB numpy array (1,048,576 float64), which travels as dtype, shape and raw bytes;
- 8 MB of ``bytes``, the least any payload of that size can cost;
- the same array as ``array.tolist()``, a list of 1,048,576 floats, which is what sending
  numbers cost before arrays travelled (the conversions to and from a list are not timed);
- 100 MB of ``bytes``, to show the cost of a large frame (copies, pipe, decoding).

Each round runs every contender back to back, in an order that turns from round to round so
that the machine's load drifting during a round favours none, and keeps each one's median
trip. A ratio is taken within each round, then its median over the rounds is printed (a ratio
of medians taken rounds apart would carry that drift). Nothing is asserted: this is a
report. Run it from the repository root::

    python bench/payloads.py            # full run, about 15 seconds
    python bench/payloads.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy
import trio

BENCH = Path(__file__).resolve().parent

import slither_actors as sa  # noqa: E402

SIZE = 8 * 2**20
LARGE = 100 * 2**20
ECHO = "workloads:echo_batch"
ARRAY, BYTES, LIST = "numpy array", "bytes", "array.tolist()"


async def trip(pool: sa.WorkerPool, payload: Any) -> float:
    """Seconds for one round trip of ``payload`` (which must come back equal in kind)."""
    start = time.perf_counter()
    (echoed,) = await pool.call(ECHO, [payload])
    seconds = time.perf_counter() - start
    assert type(echoed) is type(payload), type(echoed)
    return seconds


async def measure(rounds: int, trips: int, large_trips: int) -> dict[str, Any]:
    array = numpy.arange(SIZE // 8, dtype=numpy.float64)
    payloads = {ARRAY: array, BYTES: array.tobytes(), LIST: array.tolist()}
    settings = sa.PoolSettings(
        size=1, cwd=str(BENCH), preload=("workloads",), max_frame=LARGE + 2**20
    )
    medians: dict[str, list[float]] = {name: [] for name in payloads}
    async with sa.open_pool(settings) as pool:
        for payload in payloads.values():  # the first of each is not kept (imports, pages)
            await trip(pool, payload)
        names = list(payloads)
        for number in range(rounds):
            order = names[number % len(names) :] + names[: number % len(names)]
            for name in order:
                # The list is much slower: fewer trips of it keep a round short.
                count = max(1, trips // 4) if name == LIST else trips
                samples = [await trip(pool, payloads[name]) for _ in range(count)]
                medians[name].append(statistics.median(samples))
        large = b"x" * LARGE
        await trip(pool, large)
        large_samples = [await trip(pool, large) for _ in range(large_trips)]
    return {"medians": medians, "large": statistics.median(large_samples)}


def ratio(medians: dict[str, list[float]], name: str, base: str) -> float:
    """The median over the rounds of ``name``'s time divided by ``base``'s, per round."""
    return statistics.median(
        mine / theirs for mine, theirs in zip(medians[name], medians[base], strict=True)
    )


def report(results: dict[str, Any]) -> None:
    medians = results["medians"]
    print(f"\n8 MB round trip through WorkerPool.call: median ms, and vs {BYTES}")
    for name in (ARRAY, BYTES, LIST):
        seconds = statistics.median(medians[name])
        print(f"  {name:<16}{seconds * 1e3:>10.1f} ms{ratio(medians, name, BYTES):>9.2f}x")
    large = results["large"]
    print(
        f"\n100 MB of bytes, round trip: {large * 1e3:.0f} ms "
        f"({2 * LARGE / 2**20 / large:,.0f} MB/s counting both ways)"
    )
    versus_bytes = ratio(medians, ARRAY, BYTES)
    versus_list = 1 / ratio(medians, ARRAY, LIST)
    print("\ngoals")
    goal("8 MB numpy array round trip <= 2x bytes", f"{versus_bytes:.2f}x", versus_bytes <= 2)
    goal(
        "8 MB numpy array round trip >= 5x faster than .tolist()",
        f"{versus_list:.1f}x faster",
        versus_list >= 5,
    )


def goal(text: str, measured: str, met: bool) -> None:
    print(f"  {text}: {measured}, {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and trips")
    rounds, trips, large_trips = (3, 4, 1) if parser.parse_args().quick else (7, 12, 5)
    print(
        f"Python {sys.version.split()[0]}, numpy {numpy.__version__}, {os.cpu_count()} CPUs; "
        f"1 worker; {rounds} rounds of {trips} trips each ({max(1, trips // 4)} of the list)"
    )
    report(trio.run(measure, rounds, trips, large_trips))


if __name__ == "__main__":
    main()
