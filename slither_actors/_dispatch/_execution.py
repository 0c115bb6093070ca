"""One batch through an executor: the call, the check of its results, the telemetry span."""

from __future__ import annotations

from typing import Any

from slither_actors import telemetry
from slither_actors._dispatch._batch import Batch
from slither_actors._dispatch._executors import Executor
from slither_actors.context import Context
from slither_actors.errors import BatchLengthError

__all__ = ["BATCH_SPAN", "execute_batch", "results_of"]

BATCH_SPAN = ("slither", "dispatch", "batch")


async def execute_batch(
    executor: Executor,
    ref: int,
    batch: Batch,
    context: Context,
    timeout: float | None,
    attempt: int = 1,
) -> Batch:
    """Run one batch through ``executor``: its results as columns, under a telemetry span.

    Raises what the executor raised, or `BatchLengthError` when it returned a different
    number of results than the batch had items.
    """
    if not telemetry.is_observed(BATCH_SPAN):
        return await _call(executor, ref, batch, context, timeout)
    metadata = {
        "batch_ref": ref,
        "size": len(batch),
        "attempt": attempt,
        "executor": executor.name,
        "pipe": context.pipe,
        "stage": context.stage,
    }
    with telemetry.span(BATCH_SPAN, metadata) as span:
        done = await _call(executor, ref, batch, context, timeout)
        span.measurements["count"] = len(done)
    return done


async def _call(
    executor: Executor, ref: int, batch: Batch, context: Context, timeout: float | None
) -> Batch:
    execute_payloads = getattr(executor, "execute_payloads", None)
    if execute_payloads is not None:
        results = await execute_payloads(batch.payloads, context, timeout)
    else:
        results = await executor.execute(batch.items(), context, timeout)
    return results_of(executor, ref, batch, results)


def results_of(executor: Executor, ref: int, batch: Batch, results: Any) -> Batch:
    """The batch's results, if the executor returned one per item; else `BatchLengthError`."""
    if type(results) is not list or len(results) != len(batch.payloads):
        got = len(results) if isinstance(results, list) else type(results).__name__
        raise BatchLengthError(executor.name, ref, len(batch), got)
    return batch.with_payloads(results)
