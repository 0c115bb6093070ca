"""Pipes: declarative pipelines of local, worker and router stages, each a supervised
actor, streaming items through bounded channels."""

from slither_actors._pipe._api import PipeStream, run_pipe, stream_pipe
from slither_actors._pipe._definition import DEFAULT_OUTPUT, Pipe, ToOutput
from slither_actors._pipe._run import ErrorRecord, PipeResult
from slither_actors._pipe._service import PipeService
from slither_actors._pipe._stages import (
    Cardinality,
    FailItem,
    LocalStage,
    RouterStage,
    RouteTo,
    SkipItem,
    WorkerStage,
)

__all__ = [
    "DEFAULT_OUTPUT",
    "Cardinality",
    "ErrorRecord",
    "FailItem",
    "LocalStage",
    "Pipe",
    "PipeResult",
    "PipeService",
    "PipeStream",
    "RouteTo",
    "RouterStage",
    "SkipItem",
    "ToOutput",
    "WorkerStage",
    "run_pipe",
    "stream_pipe",
]
