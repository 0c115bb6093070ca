"""What a running service looks like now, as one small JSON-ready dict.

`StatusReader.read` walks the runtime's supervision tree and returns::

    {
      "service": "slither_actors", "pid": 12345, "time": 1796558400.0, "uptime": 12.5,
      "tree": {                         # the root supervisor, then every child, nested
        "id": "runtime", "kind": "supervisor", "state": "running",
        "strategy": "one_for_one", "restarts": 0, "last_exit": None, "mailbox": None,
        "children": [
          {"id": "counter", "kind": "actor", "state": "running", "restarts": 2,
           "last_exit": "RuntimeError('boom')", "mailbox": {"depth": 0, "bound": 16},
           "children": []},
          ...
        ]},
      "mailboxes": [{"path": "runtime/counter", "depth": 0, "bound": 16}],
      "pools": [{"name": "default", "size": 2, "live": 2, "in_flight": 1, "waiting": 0,
                 "queue_limit": 1000, "sessions": 0,
                 "workers": [{"worker_id": 1, "pid": 4242, "state": "busy",
                 "in_flight": 1, "calls_done": 130, "restarts": 1,
                 "last_exit": "exited with code -9", "rss_mb": 31.5}]}],
      "pipes": [{"name": "etl", "session_id": "3f2a...", "running": True,
                 "delivered": {"default": 1200}, "errors": 3,
                 "stages": [{"name": "parse", "kind": "local",
                             "inbox": {"depth": 12, "bound": 256}, "in_flight": 0,
                             "items": 1212, "items_per_second": 240.0}]}],
      "stores": [{"name": "features", "tables": {"users": 10}}],
    }

A node's ``kind`` is ``supervisor``, ``actor``, ``pool``, ``pipe``, ``store`` or ``task``;
its ``state`` is ``running``, ``restarting`` (its supervisor is about to start it again) or
``stopped``. ``restarts`` counts the restarts its supervisor made; ``last_exit`` is why it
last exited on its own. A worker's ``state`` is ``idle``, ``busy`` or ``draining``. A
worker's ``restarts`` counts the processes its slot had before this one, and
``last_exit`` says why the last of them ended. A mailbox's or inbox's ``depth`` is what
waits in it now and ``bound`` the most it holds.

Reading touches no mailbox and awaits nothing: it is a look at the objects, taken between
two steps of the event loop, so it never changes or slows the service beyond its own cost
(a few microseconds per node, and a read of /proc per worker for its memory).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any, Protocol

import attrs

from slither_actors._core import ActorRef, ChildInfo, SupervisorRef
from slither_actors._pipe import PipeService
from slither_actors._pipe._definition import stage_kind
from slither_actors._pipe._run import DEFAULT_BUFFER, Run
from slither_actors._pool._pool import WorkerPool
from slither_actors._pool._serving import resident_megabytes
from slither_actors._store import Store, StoreDirectory

__all__ = ["ObservedRuntime", "StatusReader", "take_snapshot"]

Node = dict[str, Any]
RATE_WINDOW = 1.0  # seconds: the least time a stage's items per second is measured over


class ObservedRuntime(Protocol):
    """What operations read and keep of a `Runtime` (named so, the runtime module, which
    starts the status server, and this package need not import each other)."""

    root: SupervisorRef
    stores: StoreDirectory[Store]
    runs: set[Run]  # the pipe runs going on: run_pipe, stream_pipe and start_pipe alike
    prometheus: Any  # the metrics bridges the settings attached, or None
    otel: Any


def take_snapshot(runtime: ObservedRuntime) -> dict[str, Any]:
    """One look at ``runtime`` (see the module's docstring for the shape).

    Items per second are over the pipe runs' lives; a `StatusReader` kept between looks
    gives them over the last second or more instead.
    """
    return StatusReader(runtime).read()


@attrs.define(eq=False)
class StatusReader:
    """Takes snapshots of one runtime, remembering each stage's count for its rate."""

    runtime: ObservedRuntime
    opened: float = attrs.Factory(time.monotonic)
    _last_counts: dict[tuple[int, str], tuple[float, int]] = attrs.Factory(dict)

    def read(self) -> dict[str, Any]:
        """A snapshot of the runtime now."""
        stores = list(self._stores())
        runs = list(self.runtime.runs)
        walk = _Walk({id(store.ref): store for store in stores})
        root = getattr(self.runtime, "root", None)  # None until the tree has started
        tree = None
        if root is not None:
            tree = walk.supervisor("runtime", root, restarts=0, last_exit=None)
        now = time.monotonic()
        return {
            "service": "slither_actors",
            "pid": os.getpid(),
            "time": time.time(),
            "uptime": now - self.opened,
            "tree": tree,
            "mailboxes": walk.mailboxes,
            "pools": [_pool(pool) for pool in walk.pools],
            "pipes": [self._pipe(run, now) for run in sorted(runs, key=_opened)],
            "stores": [_store(store) for store in stores],
        }

    def _stores(self) -> Iterable[Store]:
        directory = self.runtime.stores
        for name in directory.names():
            try:
                yield directory.get(name)
            except LookupError:  # stopped between the two calls
                continue

    def _pipe(self, run: Run, now: float) -> dict[str, Any]:
        stages = []
        for stage in run.pipe.stages:
            count = run.taken.get(stage.name, 0)
            key = (id(run), stage.name)
            since, before = self._last_counts.get(key, (run.opened, 0))
            rate = (count - before) / (now - since) if now > since else 0.0
            if now - since >= RATE_WINDOW:  # looks close together share one window
                self._last_counts[key] = (now, count)
            runner = run.runners.get(stage.name)
            stages.append(
                {
                    "name": stage.name,
                    "kind": stage_kind(stage),
                    "inbox": {
                        "depth": _inbox_depth(run, stage.name),
                        "bound": stage.buffer if stage.buffer is not None else DEFAULT_BUFFER,
                    },
                    "in_flight": runner.batches_out if runner is not None else 0,
                    "items": count,
                    "items_per_second": round(rate, 3),
                }
            )
        return {
            "name": run.pipe.name(),
            "session_id": run.context.session_id,
            "running": not run.cancel_scope.cancel_called,
            "delivered": dict(run.delivered),
            "errors": len(run.errors),
            "stages": stages,
        }


@attrs.define
class _Walk:
    """One walk down the tree, gathering what the snapshot lists beside it."""

    stores: dict[int, Store]  # by id of their ActorRef, the value their child started with
    mailboxes: list[dict[str, Any]] = attrs.Factory(list)
    pools: list[Any] = attrs.Factory(list)  # WorkerPool, or a pool of Ray actors

    def supervisor(
        self, node_id: str, ref: SupervisorRef, *, restarts: int, last_exit: Any, path: str = ""
    ) -> Node:
        path = f"{path}/{node_id}" if path else node_id
        return {
            **_node(node_id, "supervisor", "running" if ref.alive else "stopped"),
            "strategy": ref.strategy.value,
            "restarts": restarts,
            "last_exit": _reason(last_exit),
            "children": [self.child(child, path) for child in ref.which_children()],
        }

    def child(self, child: ChildInfo, path: str) -> Node:
        value = child.value if child.running else None
        if isinstance(value, SupervisorRef):
            node = self.supervisor(
                child.id, value, restarts=child.restarts, last_exit=child.last_exit, path=path
            )
            node["state"] = _state(child)
            return node
        kind = "store" if id(value) in self.stores else _kind(child, value)
        node = {
            **_node(child.id, kind, _state(child)),
            "restarts": child.restarts,
            "last_exit": _reason(child.last_exit),
        }
        if isinstance(value, ActorRef):
            mailbox = _mailbox(value)
            node["mailbox"] = mailbox
            if mailbox is not None:
                self.mailboxes.append({"path": f"{path}/{child.id}", **mailbox})
        elif _is_pool(value):
            self.pools.append(value)
            # A local pool's own supervisor, of its worker actors (a Ray pool has none).
            workers = getattr(value, "_supervisor", None)
            if workers is not None:
                here = f"{path}/{child.id}"
                node["children"] = [self.child(worker, here) for worker in workers.which_children()]
        elif isinstance(value, PipeService):
            stages = value._run.supervisor
            if stages is not None:
                here = f"{path}/{child.id}"
                node["children"] = [self.child(stage, here) for stage in stages.which_children()]
        return node


def _opened(run: Run) -> float:
    return run.opened


def _node(node_id: str, kind: str, state: str) -> Node:
    return {
        "id": node_id,
        "kind": kind,
        "state": state,
        "restarts": 0,
        "last_exit": None,
        "mailbox": None,
        "children": [],
    }


def _kind(child: ChildInfo, value: Any) -> str:
    if isinstance(value, ActorRef):
        return "actor"
    if _is_pool(value):
        return "pool"
    if isinstance(value, PipeService):
        return "pipe"
    return "supervisor" if child.kind.value == "supervisor" else "task"


def _is_pool(value: Any) -> bool:
    """A `WorkerPool`, or a pool with its interface (of Ray actors, say)."""
    return isinstance(value, WorkerPool) or (
        callable(getattr(value, "workers", None)) and callable(getattr(value, "stats", None))
    )


def _state(child: ChildInfo) -> str:
    if child.running:
        return "running"
    return "restarting" if child.restarting else "stopped"


def _reason(reason: Any) -> str | None:
    if reason is None:
        return None
    text = repr(reason) if isinstance(reason, BaseException) else str(reason)
    return text if len(text) <= 200 else text[:197] + "..."


def _mailbox(ref: ActorRef) -> dict[str, int] | None:
    if not ref.alive:
        return None
    statistics = ref._mailbox.statistics()
    return {"depth": statistics.current_buffer_used, "bound": ref.mailbox_size}


def _pool(pool: Any) -> dict[str, Any]:
    stats = pool.stats()
    workers = []
    for worker in pool.workers():
        if worker.draining is not None:
            state = "draining"
        else:
            state = "busy" if worker.in_flight else "idle"
        # A Ray actor's pid may be another machine's: its memory is not read here.
        rss = resident_megabytes(worker.pid) if isinstance(pool, WorkerPool) else None
        workers.append(
            {
                "worker_id": worker.worker_id,
                "pid": worker.pid,
                "state": state,
                "in_flight": worker.in_flight,
                "calls_done": worker.calls_done,
                "restarts": worker.restarts,
                "last_exit": worker.last_exit,
                "rss_mb": None if rss is None else round(rss, 1),
            }
        )
    return {
        "name": stats.name,
        "size": stats.size,
        "live": stats.live,
        "in_flight": stats.in_flight,
        "waiting": stats.waiting,
        "queue_limit": pool.settings.queue_limit,
        "sessions": stats.sessions,
        "workers": workers,
    }


def _store(store: Store) -> dict[str, Any]:
    return {
        "name": store.name,
        "tables": {table.name: store.size(table.name) for table in type(store).tables},
    }


def _inbox_depth(run: Run, stage: str) -> int:
    """Items waiting in ``stage``'s inbox (they travel in chunks; this counts the items)."""
    inbox = run.inboxes[stage]
    state = getattr(inbox, "_state", None)
    chunks = getattr(state, "data", None)
    if chunks is None:  # a trio whose channels keep their buffer elsewhere: count chunks
        return int(inbox.statistics().current_buffer_used * run.chunk_sizes[stage])
    return sum(len(chunk.payloads) for chunk in list(chunks))
