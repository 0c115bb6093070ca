"""Demo: statistics over 200 datasets in worker processes, three of them poisoned.

`dispatch` sends the datasets to two workers in batches of 25, at most 4 batches out. A
poisoned dataset fails the whole call it travels in. Three policies meet it:

- ``halt`` stops at the first failure and reports what had completed;
- ``skip`` keeps going but gives back every dataset of a failed batch unprocessed;
- ``Retry(isolate=True)`` splits a failing batch in halves until the poisoned datasets are
  alone, so they cost only themselves.

Batch telemetry counts the calls each policy made.
"""

from __future__ import annotations

import random

import slither_actors as sa

TARGETS = "slither_actors.examples.demo_stats"
POISONED = {17, 90, 151}


def datasets() -> list[dict[str, object]]:
    """200 datasets of 30 numbers each; three hold a value that is not a number."""
    rng = random.Random(7)
    made: list[dict[str, object]] = []
    for index in range(200):
        values: list[object] = [round(rng.gauss(100, 15), 2) for _ in range(30)]
        if index in POISONED:
            values[5] = "n/a"
        made.append({"name": f"ds{index:03}", "values": values})
    return made


async def run_with(label: str, policy: object) -> None:
    """One dispatch of every dataset under ``policy``, with what came of it."""
    batches = [("slither", "dispatch", "batch", kind) for kind in ("stop", "exception")]
    with sa.telemetry.capture(batches) as seen:
        try:
            results = await sa.dispatch(
                datasets(),
                executor=sa.WorkerExecutor(TARGETS, "describe", pool="stats"),
                batch_size=25,
                max_in_flight=4,
                on_error=policy,
            )
        except sa.DispatchError as error:
            print(f"  {label:<8} DispatchError at batch {error.batch_ref}: {error.reason}")
            print(f"           {len(error.partial_results)} datasets had completed")
            return
    failed = sum(1 for event in seen if event.name[-1] == "exception")
    skipped = [item.payload["name"] for item in results if item.meta.get("skipped")]
    done = [item.payload for item in results if not item.meta.get("skipped")]
    counts = f"{len(done)} described, {len(skipped)} skipped"
    print(f"  {label:<8} {counts}, {len(seen)} calls ({failed} failed)")
    if len(skipped) <= 5:
        print(f"           skipped: {', '.join(skipped)}")
    print(f"           first: {done[0]}")


async def demo(runtime: sa.Runtime) -> None:
    """Run the same datasets under each policy."""
    print("\n200 datasets, batches of 25; ds017, ds090 and ds151 are poisoned")
    await run_with("halt", "halt")
    await run_with("skip", "skip")
    await run_with("isolate", sa.Retry(max_attempts=1, isolate=True, then="skip"))


def main() -> None:
    """Run the demo in a fresh runtime with a two-worker pool."""
    settings = sa.Settings(pools=(sa.PoolSettings(name="stats", size=2, preload=(TARGETS,)),))
    sa.run(demo, settings=settings)
