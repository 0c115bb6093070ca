"""Dispatch: batched fan-out of items to an executor, with at most ``max_in_flight``
batches out, an order, and an error policy."""

from slither_actors._dispatch._api import ResultStream, call_batch, dispatch, dispatch_stream
from slither_actors._dispatch._executors import (
    Executor,
    LocalExecutor,
    ToolExecutor,
    WorkerExecutor,
)
from slither_actors._dispatch._policies import ErrorPolicy, Halt, Recover, Retry, Route, Skip
from slither_actors._dispatch._results import Results
from slither_actors._dispatch._strategies import (
    Batcher,
    BatchStrategy,
    FixedBatch,
    KeyPartition,
    WeightedBatch,
    split,
)

__all__ = [
    "BatchStrategy",
    "Batcher",
    "ErrorPolicy",
    "Executor",
    "FixedBatch",
    "Halt",
    "KeyPartition",
    "LocalExecutor",
    "Recover",
    "ResultStream",
    "Results",
    "Retry",
    "Route",
    "Skip",
    "ToolExecutor",
    "WeightedBatch",
    "WorkerExecutor",
    "call_batch",
    "dispatch",
    "dispatch_stream",
    "split",
]
