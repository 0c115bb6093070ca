"""The catalogue of metrics: every metric the bridges keep, and how each event updates them.

One list, read by the Prometheus bridge and the OpenTelemetry bridge alike, so the two say
the same thing under the same names (docs/metrics.md lists it). An event's update is a
plain function of the event that tells a `Recorder` what to add or observe; a bridge is a
recorder over its own library. Labels are bounded: names of pools, pipes, stages,
executors, stores, tables, views, supervisors and children, and small closed sets
(outcomes, operations); never an item, a session, a batch ref or a pid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs

from slither_actors.telemetry import EventName

__all__ = [
    "DURATION_BUCKETS",
    "EVENTS",
    "METRICS",
    "UPDATES",
    "Metric",
    "Recorder",
]

# Seconds: a lone worker call of a trivial function takes ~50 µs, a reload or a long batch
# minutes; the Prometheus defaults (5 ms to 10 s) would put every small call in one bucket.
DURATION_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip


@attrs.frozen
class Metric:
    """One metric: its name as Prometheus shows it, its kind, labels, and what it counts.

    ``kind`` is ``"counter"``, ``"histogram"`` or ``"gauge"``; a counter's name ends in
    ``_total``. ``source`` says where its figures come from (for the docs). Gauges are read
    from the runtime's status snapshot when it is scraped, not from events.
    """

    name: str
    kind: str
    labels: tuple[str, ...]
    description: str
    source: str
    unit: str = ""  # "s" for seconds (the OpenTelemetry unit); "" for a count

    @property
    def base_name(self) -> str:
        """The name without the ``_total`` Prometheus adds to counters (the OTel name)."""
        return self.name.removesuffix("_total")


Metric.__module__ = "slither_actors.metrics"  # where users import it from


def _counter(name: str, labels: tuple[str, ...], description: str, source: str) -> Metric:
    return Metric(name, "counter", labels, description, source)


def _seconds(name: str, labels: tuple[str, ...], description: str, source: str) -> Metric:
    return Metric(name, "histogram", labels, description, source, unit="s")


def _gauge(name: str, labels: tuple[str, ...], description: str) -> Metric:
    return Metric(name, "gauge", labels, description, "the runtime's status snapshot")


_CALL = "`slither.pool.call.stop` / `.exception`"
_BATCH = "`slither.dispatch.batch.stop` / `.exception`"
_RUN = "`slither.pipe.run.stop` / `.exception`"
_VIEW = "`slither.bridge.view.stop` / `.exception`"
_BATCH_LABELS = ("executor", "pipe", "stage")

POOL_CALLS = _counter(
    "slither_pool_calls_total", ("pool", "outcome"), "Calls made to a worker pool", _CALL
)
POOL_ITEMS = _counter(
    "slither_pool_items_total", ("pool", "outcome"), "Payloads sent in those calls", _CALL
)
POOL_CALL_SECONDS = _seconds(
    "slither_pool_call_duration_seconds",
    ("pool",),
    "Time from a call's submission to its answer",
    _CALL,
)
POOL_SATURATED = _counter(
    "slither_pool_saturated_total",
    ("pool",),
    "Calls refused with PoolSaturated",
    "`slither.pool.saturated`",
)
AFFINITY_BROKEN = _counter(
    "slither_session_affinity_broken_total",
    ("pool", "reason"),
    "Sessions bound to a new worker",
    "`slither.session.affinity.broken`",
)
WORKER_STARTS = _counter(
    "slither_worker_starts_total",
    ("pool",),
    "Worker processes that said hello",
    "`slither.worker.ready`",
)
WORKER_STARTUP_SECONDS = _seconds(
    "slither_worker_startup_seconds",
    ("pool",),
    "Time from a worker's spawn to its hello",
    "`slither.worker.ready`",
)
WORKER_RESTARTS = _counter(
    "slither_worker_restarts_total",
    ("pool",),
    "Worker processes that replaced an earlier one in their slot",
    "`slither.worker.restarted`",
)
WORKER_EXITS = _counter(
    "slither_worker_exits_total",
    ("pool",),
    "Worker processes that ended, for any reason",
    "`slither.worker.exited`",
)
WORKER_CRASHES = _counter(
    "slither_worker_crashes_total",
    ("pool",),
    "Worker processes that died, missed a heartbeat or broke the protocol",
    "`slither.worker.crashed`",
)
WORKER_RECYCLES = _counter(
    "slither_worker_recycles_total",
    ("pool",),
    "Worker processes ended by max_calls, max_age or max_rss_mb",
    "`slither.worker.recycled`",
)
BATCHES = _counter(
    "slither_dispatch_batches_total",
    (*_BATCH_LABELS, "outcome"),
    "Batch runs through an executor (every attempt, every half)",
    _BATCH,
)
BATCH_ITEMS = _counter(
    "slither_dispatch_items_total", (*_BATCH_LABELS, "outcome"), "Items in those batch runs", _BATCH
)
BATCH_SECONDS = _seconds(
    "slither_dispatch_batch_duration_seconds", _BATCH_LABELS, "Time a batch run took", _BATCH
)
BATCH_RETRIES = _counter(
    "slither_dispatch_retries_total",
    _BATCH_LABELS,
    "Batch runs that were a retry (attempt 2 or later)",
    _BATCH,
)
PIPE_RUNS = _counter("slither_pipe_runs_total", ("pipe", "outcome"), "Pipe runs that ended", _RUN)
PIPE_RUN_SECONDS = _seconds(
    "slither_pipe_run_duration_seconds", ("pipe",), "Time a pipe run took", _RUN
)
PIPE_ITEMS = _counter(
    "slither_pipe_items_total",
    ("pipe", "output"),
    "Items delivered to each output by runs that ended",
    "`slither.pipe.run.stop`",
)
PIPE_ERRORS = _counter(
    "slither_pipe_errors_total",
    ("pipe",),
    "Error records of runs that ended",
    "`slither.pipe.run.stop`",
)
RESTARTS = _counter(
    "slither_supervisor_restarts_total",
    ("supervisor", "child"),
    "Children a supervisor started again",
    "`slither.supervisor.child.restarted`",
)
EXHAUSTED = _counter(
    "slither_supervisor_exhausted_total",
    ("supervisor",),
    "Supervisors that gave up (restart limit broken)",
    "`slither.supervisor.exhausted`",
)
STORE_WRITES = _counter(
    "slither_store_writes_total",
    ("store", "table", "operation"),
    "Keys written: 1 per put, update or delete; the pairs of a bulk_insert",
    "`slither.store.write`",
)
STORE_RELOADS = _counter(
    "slither_store_reloads_total",
    ("store", "outcome"),
    "Store reloads that ended",
    "`slither.store.reload.stop`",
)
STORE_RELOAD_SECONDS = _seconds(
    "slither_store_reload_duration_seconds",
    ("store",),
    "Time a store reload took",
    "`slither.store.reload.stop`",
)
VIEW_CALLS = _counter(
    "slither_view_calls_total",
    ("store", "view", "outcome"),
    "View handlers run for a worker",
    _VIEW,
)
VIEW_SECONDS = _seconds(
    "slither_view_call_duration_seconds", ("store", "view"), "Time a view handler took", _VIEW
)
QUEUE_DEPTH = _gauge(
    "slither_queue_depth", ("kind", "name"), "Items or messages waiting in a queue now"
)
QUEUE_BOUND = _gauge("slither_queue_bound", ("kind", "name"), "The most that queue holds")
POOL_WORKERS = _gauge("slither_pool_workers", ("pool", "state"), "Live workers of a pool, by state")
POOL_SIZE = _gauge("slither_pool_size", ("pool",), "Workers a pool is configured to keep")
POOL_IN_FLIGHT = _gauge(
    "slither_pool_in_flight", ("pool",), "Calls written to a pool's workers and not answered"
)

METRICS: tuple[Metric, ...] = (
    POOL_CALLS,
    POOL_ITEMS,
    POOL_CALL_SECONDS,
    POOL_SATURATED,
    AFFINITY_BROKEN,
    WORKER_STARTS,
    WORKER_STARTUP_SECONDS,
    WORKER_RESTARTS,
    WORKER_EXITS,
    WORKER_CRASHES,
    WORKER_RECYCLES,
    BATCHES,
    BATCH_ITEMS,
    BATCH_SECONDS,
    BATCH_RETRIES,
    PIPE_RUNS,
    PIPE_RUN_SECONDS,
    PIPE_ITEMS,
    PIPE_ERRORS,
    RESTARTS,
    EXHAUSTED,
    STORE_WRITES,
    STORE_RELOADS,
    STORE_RELOAD_SECONDS,
    VIEW_CALLS,
    VIEW_SECONDS,
    QUEUE_DEPTH,
    QUEUE_BOUND,
    POOL_WORKERS,
    POOL_SIZE,
    POOL_IN_FLIGHT,
)


class Recorder(Protocol):
    """What an event's update tells a bridge (labels are values in the metric's order)."""

    def add(self, metric: Metric, labels: tuple[str, ...], amount: float) -> None: ...

    def observe(self, metric: Metric, labels: tuple[str, ...], value: float) -> None: ...


Update = Callable[[Recorder, EventName, Mapping[str, Any], Mapping[str, Any]], None]


def _outcome(event: EventName, metadata: Mapping[str, Any]) -> str:
    """``"ok"`` for a span's stop; its kind (error, cancelled, exit) for its exception."""
    return "ok" if event[-1] == "stop" else str(metadata.get("kind", "error"))


def _label(value: Any) -> str:
    return "" if value is None else str(value)


def _pool_call(recorder: Recorder, event: EventName, measured: Any, metadata: Any) -> None:
    pool, outcome = _label(metadata.get("pool")), _outcome(event, metadata)
    recorder.add(POOL_CALLS, (pool, outcome), 1)
    recorder.add(POOL_ITEMS, (pool, outcome), metadata.get("size", 0))
    recorder.observe(POOL_CALL_SECONDS, (pool,), measured["duration"])


def _batch(recorder: Recorder, event: EventName, measured: Any, metadata: Any) -> None:
    where = (
        _label(metadata.get("executor")),
        _label(metadata.get("pipe")),
        _label(metadata.get("stage")),
    )
    outcome = _outcome(event, metadata)
    recorder.add(BATCHES, (*where, outcome), 1)
    recorder.add(BATCH_ITEMS, (*where, outcome), metadata.get("size", 0))
    recorder.observe(BATCH_SECONDS, where, measured["duration"])
    if metadata.get("attempt", 1) > 1:
        recorder.add(BATCH_RETRIES, where, 1)


def _pipe_run(recorder: Recorder, event: EventName, measured: Any, metadata: Any) -> None:
    pipe = _label(metadata.get("pipe"))
    recorder.add(PIPE_RUNS, (pipe, _outcome(event, metadata)), 1)
    recorder.observe(PIPE_RUN_SECONDS, (pipe,), measured["duration"])
    for key, value in measured.items():
        if key.startswith("output."):
            recorder.add(PIPE_ITEMS, (pipe, key[len("output.") :]), value)
    if "errors" in measured:
        recorder.add(PIPE_ERRORS, (pipe,), measured["errors"])


def _view(recorder: Recorder, event: EventName, measured: Any, metadata: Any) -> None:
    store, view = _label(metadata.get("store")), _label(metadata.get("view"))
    recorder.add(VIEW_CALLS, (store, view, _outcome(event, metadata)), 1)
    recorder.observe(VIEW_SECONDS, (store, view), measured["duration"])


def _reload(recorder: Recorder, event: EventName, measured: Any, metadata: Any) -> None:
    store = _label(metadata.get("store"))
    recorder.add(STORE_RELOADS, (store, "ok" if metadata.get("ok") else "error"), 1)
    recorder.observe(STORE_RELOAD_SECONDS, (store,), measured["duration"])


def _write(recorder: Recorder, event: EventName, measured: Any, metadata: Any) -> None:
    labels = (
        _label(metadata.get("store")),
        _label(metadata.get("table")),
        _label(metadata.get("operation")),
    )
    recorder.add(STORE_WRITES, labels, measured.get("count", 1))


def _count(metric: Metric, *keys: str) -> Update:
    """An update adding 1 to ``metric``, labelled by the metadata's ``keys``."""

    def count(recorder: Recorder, event: EventName, measured: Any, metadata: Any) -> None:
        recorder.add(metric, tuple(_label(metadata.get(key)) for key in keys), 1)

    return count


def _ready(recorder: Recorder, event: EventName, measured: Any, metadata: Any) -> None:
    pool = (_label(metadata.get("pool")),)
    recorder.add(WORKER_STARTS, pool, 1)
    recorder.observe(WORKER_STARTUP_SECONDS, pool, measured.get("startup_time", 0.0))


def _span(prefix: EventName, update: Update) -> dict[EventName, Update]:
    return {(*prefix, "stop"): update, (*prefix, "exception"): update}


# Every event a bridge attaches to, with its update. Only the end of each span: a start
# adds nothing a stop does not tell (the OTel bridge's spans attach to the starts too).
# The pipe's stage events are left out on purpose: a handler on them makes local and
# router stages work item by item instead of a chunk at once (docs/pipe.md#telemetry).
UPDATES: dict[EventName, Update] = {
    **_span(("slither", "pool", "call"), _pool_call),
    **_span(("slither", "dispatch", "batch"), _batch),
    **_span(("slither", "pipe", "run"), _pipe_run),
    **_span(("slither", "bridge", "view"), _view),
    ("slither", "store", "reload", "stop"): _reload,
    ("slither", "store", "write"): _write,
    ("slither", "pool", "saturated"): _count(POOL_SATURATED, "pool"),
    ("slither", "session", "affinity", "broken"): _count(AFFINITY_BROKEN, "pool", "reason"),
    ("slither", "worker", "ready"): _ready,
    ("slither", "worker", "restarted"): _count(WORKER_RESTARTS, "pool"),
    ("slither", "worker", "exited"): _count(WORKER_EXITS, "pool"),
    ("slither", "worker", "crashed"): _count(WORKER_CRASHES, "pool"),
    ("slither", "worker", "recycled"): _count(WORKER_RECYCLES, "pool"),
    ("slither", "supervisor", "child", "restarted"): _count(RESTARTS, "supervisor", "child"),
    ("slither", "supervisor", "exhausted"): _count(EXHAUSTED, "supervisor"),
}
EVENTS: tuple[EventName, ...] = tuple(UPDATES)
