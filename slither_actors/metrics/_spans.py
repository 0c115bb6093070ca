"""OpenTelemetry spans from the telemetry spans: pipe run → stage → batch → pool call.

Telemetry handlers run in the task that emits the event, and a Trio task starts with a
copy of the context variables of the task that spawned it. So a context variable holding
the spans open in this task (a tuple, replaced, never changed in place) gives every span
its parent: a pipe's stage actors are spawned inside its run's span, their dispatch lanes
inside theirs, and a pool call is made in the lane's own task.

A stage's batches (at a worker stage) or chunks (at a local or router stage: up to 256
items worked through in order) are grouped under one span per stage and run, made when
its first one starts and ended at its last one's end once the run ends: no event marks a
stage's start or end, and one span per item would cost as much as the items.

A stop is matched to its start by the span's identity (its prefix and the metadata that
names it: the batch ref, attempt, executor, pipe, stage and size of a batch, say): first
among the spans open in this task, newest first, then among all open spans, so a span that
ends in another task than it began in (an async generator finalized elsewhere) ends the
right span and leaves the other task's stack whole; a span already ended is skipped as a
parent. A stop whose start came before the bridge was attached is ignored.
"""

from __future__ import annotations

import contextvars
import operator
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from slither_actors.telemetry import EventName

__all__ = ["SPAN_PREFIXES", "SpanTracker"]

RUN: EventName = ("slither", "pipe", "run")
CHUNK: EventName = ("slither", "pipe", "chunk")
BATCH: EventName = ("slither", "dispatch", "batch")
CALL: EventName = ("slither", "pool", "call")
SPAN_PREFIXES = (RUN, CHUNK, BATCH, CALL)


@attrs.frozen
class _Kind:
    """How the events of one span prefix become spans."""

    prefix: EventName
    word: str  # the span's name is the word, then the value of the metadata's `named`
    named: str
    # The metadata that tells one open span from another of the same prefix.
    identity: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    # Metadata copied to the span as ``slither.<key>`` when it starts.
    attributes: tuple[tuple[str, str], ...]


def _kind(prefix: EventName, word: str, named: str, identity: str, attributes: str) -> _Kind:
    keys = identity.split()
    return _Kind(
        prefix,
        word,
        named,
        operator.itemgetter(*keys),
        tuple((key, f"slither.{key}") for key in attributes.split()),
    )


KINDS = {
    RUN: _kind(RUN, "pipe", "pipe", "pipe session_id", "pipe session_id"),
    BATCH: _kind(
        BATCH,
        "batch",
        "executor",
        "batch_ref attempt executor pipe stage size",
        "batch_ref size attempt executor pipe stage",
    ),
    CHUNK: _kind(CHUNK, "chunk", "stage", "pipe stage first_id size", "pipe stage size"),
    CALL: _kind(
        CALL, "call", "target", "pool target session_id size", "pool target size session_id"
    ),
}


@attrs.define(eq=False)
class _Stage:
    """The span grouping one stage's batches or chunks within one run."""

    span: Span
    context: Context  # the span's, for its batches or chunks
    end_ns: int
    batches: int = 0
    chunks: int = 0
    items: int = 0

    def counts(self) -> dict[str, int]:
        """Its attributes at its end: the batches or the chunks, and the items."""
        parts = {"slither.batches": self.batches} if self.batches else {}
        if self.chunks:
            parts["slither.chunks"] = self.chunks
        return {**parts, "slither.items": self.items}


@attrs.define(eq=False)
class _Open:
    """A span begun and not yet ended, as this tracker knows it."""

    kind: _Kind
    identity: tuple[Any, ...]
    span: Span
    start_ns: int
    stage: _Stage | None = None  # a batch's stage
    stages: dict[str, _Stage] | None = None  # a run's stages, by name, once it has one
    context: Context | None = None  # the span's, for its children, once it has one
    ended: bool = False


class SpanTracker:
    """Turns the start, stop and exception events of `SPAN_PREFIXES` into spans."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self._stack: contextvars.ContextVar[tuple[_Open, ...]] = contextvars.ContextVar(
            f"slither_actors.metrics.spans#{id(self)}", default=()
        )
        self._open: dict[tuple[EventName, tuple[Any, ...]], list[_Open]] = {}

    def start(self, prefix: EventName, measured: Mapping[str, Any], metadata: Any) -> None:
        kind = KINDS[prefix]
        stack = self._stack.get()
        start_ns = _nanoseconds(measured.get("system_time"))
        context, stage = self._parent(stack, kind, metadata, start_ns)
        span = self._tracer.start_span(
            f"{kind.word} {metadata[kind.named]}",
            context=context,
            attributes={
                name: value
                for key, name in kind.attributes
                if (value := metadata.get(key)) is not None
            },
            start_time=start_ns,
        )
        identity = kind.identity(metadata)
        entry = _Open(kind, identity, span, start_ns, stage)
        self._open.setdefault((prefix, identity), []).append(entry)
        if stack and stack[-1].ended:
            stack = tuple(other for other in stack if not other.ended)
        self._stack.set((*stack, entry))

    def end(
        self, prefix: EventName, measured: Mapping[str, Any], metadata: Any, failed: bool
    ) -> None:
        entry = self._find(prefix, KINDS[prefix].identity(metadata))
        if entry is None:
            return  # begun before the bridge was attached
        entry.ended = True
        end_ns = entry.start_ns + int(measured.get("duration", 0.0) * 1e9)
        span = entry.span
        if prefix == CALL and metadata.get("worker_id") is not None:
            span.set_attribute("slither.worker_id", metadata["worker_id"])
        if prefix == RUN:
            for name, value in measured.items():
                if name.startswith("output.") or name == "errors":
                    span.set_attribute(f"slither.{name}", value)
            for stage in (entry.stages or {}).values():
                stage.span.set_attributes(stage.counts())
                stage.span.end(end_time=stage.end_ns)
        elif entry.stage is not None:
            entry.stage.end_ns = max(entry.stage.end_ns, end_ns)
            if prefix == CHUNK:
                entry.stage.chunks += 1
            else:
                entry.stage.batches += 1
            entry.stage.items += metadata.get("size", 0)
        if "count" in measured:
            span.set_attribute("slither.count", measured["count"])
        if failed:
            outcome = str(metadata.get("kind", "error"))
            span.set_attribute("slither.outcome", outcome)
            reason = metadata.get("reason")
            if outcome != "cancelled":
                if isinstance(reason, BaseException):
                    span.record_exception(reason, timestamp=end_ns)
                span.set_status(Status(StatusCode.ERROR, f"{type(reason).__name__}: {reason}"))
        else:
            span.set_attribute("slither.outcome", "ok")
        span.end(end_time=end_ns)
        stack = self._stack.get()
        if stack and stack[-1] is entry:
            self._stack.set(stack[:-1])
        elif entry in stack:
            self._stack.set(tuple(other for other in stack if not other.ended))

    def forget(self) -> None:
        """Let go of every open span (the bridge is detached: their ends will not come)."""
        self._open.clear()

    def _find(self, prefix: EventName, identity: tuple[Any, ...]) -> _Open | None:
        """The open span a stop ends: the newest such in this task, else the oldest such
        anywhere; taken out of the open spans."""
        candidates = self._open.get((prefix, identity))
        if not candidates:
            return None
        found = candidates[0]
        if len(candidates) > 1:
            for entry in reversed(self._stack.get()):
                if entry.kind.prefix == prefix and entry.identity == identity and not entry.ended:
                    found = entry
                    break
        candidates.remove(found)
        if not candidates:
            del self._open[(prefix, identity)]
        return found

    def _parent(
        self, stack: tuple[_Open, ...], kind: _Kind, metadata: Any, start_ns: int
    ) -> tuple[Context | None, _Stage | None]:
        """The context a new span starts in, and its stage if it goes under a stage's
        span: the stage's, for a batch or a chunk of a pipe's stage; else the newest span still open
        in this task; else None (OpenTelemetry's current context)."""
        if kind.prefix in (BATCH, CHUNK) and metadata.get("stage") is not None:
            for entry in reversed(stack):
                run = entry.kind.prefix == RUN and not entry.ended
                if run and entry.identity[0] == metadata.get("pipe"):
                    stage = self._stage(entry, metadata["stage"], start_ns)
                    return stage.context, stage
        for entry in reversed(stack):
            if not entry.ended:
                if entry.context is None:
                    entry.context = trace.set_span_in_context(entry.span)
                return entry.context, None
        return None, None

    def _stage(self, run: _Open, name: str, start_ns: int) -> _Stage:
        """The span of stage ``name`` within ``run``, begun now if it is the first batch."""
        if run.stages is None:
            run.stages = {}
        stage = run.stages.get(name)
        if stage is None:
            if run.context is None:
                run.context = trace.set_span_in_context(run.span)
            span = self._tracer.start_span(
                f"stage {name}",
                context=run.context,
                attributes={"slither.pipe": run.identity[0], "slither.stage": name},
                start_time=start_ns,
            )
            context = trace.set_span_in_context(span)
            stage = run.stages[name] = _Stage(span, context, start_ns)
        return stage


def _nanoseconds(system_time: float | None) -> int:
    return time.time_ns() if system_time is None else int(system_time * 1e9)
