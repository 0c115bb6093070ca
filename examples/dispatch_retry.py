"""Poison isolation: a few bad records cost only themselves, not their batches.

``dispatch_retry_worker.parse`` raises on a record whose reading is not a number, failing
its whole batch. Under ``"skip"`` the good records of that batch are skipped with it; under
``Retry(isolate=True, then="skip")`` a failing batch is split in halves down to single
records, each of which gets two attempts (in case its failure was a passing one), so
exactly the poisoned ones are skipped.

Run it with ``python examples/dispatch_retry.py`` (from any directory).
"""

from __future__ import annotations

from pathlib import Path

import slither_actors as sa

HERE = Path(__file__).resolve().parent  # where dispatch_retry_worker.py is
POISONED = {17, 42, 88}
BATCH_SIZE = 10

parse = sa.WorkerExecutor("dispatch_retry_worker", "parse")


def skipped_ids(results: list[sa.Item]) -> list[int]:
    return [item.payload["id"] for item in results if item.meta.get("skipped")]


async def main(runtime: sa.Runtime) -> None:
    records = [{"id": n, "reading": "n/a" if n in POISONED else f"{n * 0.5}"} for n in range(100)]
    print(f"{len(records)} records in batches of {BATCH_SIZE}, poisoned: {sorted(POISONED)}")

    plain = await sa.dispatch(records, executor=parse, batch_size=BATCH_SIZE, on_error="skip")
    lost = len(skipped_ids(plain))
    print(f"skip:           {len(plain) - lost} parsed, {lost} skipped (whole batches)")

    retry = sa.Retry(max_attempts=2, isolate=True, then="skip")
    isolated = await sa.dispatch(records, executor=parse, batch_size=BATCH_SIZE, on_error=retry)
    failed = skipped_ids(isolated)
    print(f"isolate, retry: {len(isolated) - len(failed)} parsed, {len(failed)} skipped: {failed}")

    hit = {n // BATCH_SIZE for n in POISONED}  # the batches a poisoned record was in
    neighbours = [
        item
        for item in isolated
        if item.payload["id"] // BATCH_SIZE in hit and item.payload["id"] not in POISONED
    ]
    parsed = sum(not item.meta.get("skipped") for item in neighbours)
    print(f"their batch neighbours: {parsed} of {len(neighbours)} parsed")
    first = isolated[failed[0]]  # in input order, so a record's place is its id
    print(f"record {failed[0]} after {first.meta['attempts']} attempts: {first.meta['error']}")


if __name__ == "__main__":
    settings = sa.Settings(
        pools=(sa.PoolSettings(size=2, cwd=str(HERE), preload=("dispatch_retry_worker",)),)
    )
    sa.run(main, settings=settings)
