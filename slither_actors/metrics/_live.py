"""The gauges of live state: queue depths and bounds, workers by state, read from a snapshot.

Both bridges read these when they are collected, from the runtime's status snapshot
(``slither_actors._status``), never from events: a queue's depth is a fact of now. A
scrape may come from another thread (prometheus_client's HTTP server, an OpenTelemetry
periodic reader), while the snapshot may only be taken between two steps of the runtime's
Trio loop: `LiveState` takes it there, waiting a bounded time, and reports nothing rather
than block a scrape (or deadlock a shutdown) when the loop does not answer.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import trio

from slither_actors.metrics._catalogue import (
    POOL_IN_FLIGHT,
    POOL_SIZE,
    POOL_WORKERS,
    QUEUE_BOUND,
    QUEUE_DEPTH,
    Metric,
)

__all__ = ["LIVE_METRICS", "LiveState", "Reading", "readings"]

LIVE_METRICS = (QUEUE_DEPTH, QUEUE_BOUND, POOL_WORKERS, POOL_SIZE, POOL_IN_FLIGHT)
WORKER_STATES = ("busy", "idle", "draining")
# How long a scrape from another thread waits for the Trio loop to take the snapshot.
SNAPSHOT_WAIT = 2.0

_log = logging.getLogger("slither_actors.metrics")

Snapshot = Mapping[str, Any]


@attrs.frozen
class Reading:
    """One gauge's value for one set of labels (values in the metric's label order)."""

    metric: Metric
    labels: tuple[str, ...]
    value: float


def readings(snapshot: Snapshot) -> list[Reading]:
    """Every live gauge's values in ``snapshot`` (the shape of ``take_snapshot``'s result).

    Stages are named ``pipe/stage``; the inboxes of several runs of one pipe add up (a
    service's session is not a label). Mailboxes are named by their path in the tree
    (``runtime/counter``); the stage actors' own mailboxes are left out, their inbox being
    the stage's queue. A pool's call queue is ``kind="pool"``: its depth always, its bound
    when the snapshot gives the pool's ``queue_limit``.
    """
    queues: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    bounded: set[tuple[str, str]] = set()
    for path, mailbox in _mailboxes(snapshot.get("tree")):
        key = ("mailbox", path)
        queues[key][0] += mailbox.get("depth", 0)
        queues[key][1] += mailbox.get("bound", 0)
        bounded.add(key)
    for pipe in snapshot.get("pipes", ()):
        for stage in pipe.get("stages", ()):
            key = ("stage", f"{pipe.get('name')}/{stage.get('name')}")
            inbox = stage.get("inbox") or {}
            queues[key][0] += inbox.get("depth", 0)
            queues[key][1] += inbox.get("bound", 0)
            bounded.add(key)
    found: list[Reading] = []
    for pool in snapshot.get("pools", ()):
        name = str(pool.get("name"))
        key = ("pool", name)
        queues[key][0] += pool.get("waiting", 0)
        if pool.get("queue_limit") is not None:
            queues[key][1] += pool["queue_limit"]
            bounded.add(key)
        states = dict.fromkeys(WORKER_STATES, 0)
        for worker in pool.get("workers", ()):
            state = worker.get("state")
            if state in states:
                states[state] += 1
        found += [Reading(POOL_WORKERS, (name, state), count) for state, count in states.items()]
        found.append(Reading(POOL_SIZE, (name,), pool.get("size", 0)))
        found.append(Reading(POOL_IN_FLIGHT, (name,), pool.get("in_flight", 0)))
    for key, (depth, bound) in queues.items():
        found.append(Reading(QUEUE_DEPTH, key, depth))
        if key in bounded:
            found.append(Reading(QUEUE_BOUND, key, bound))
    return found


def _mailboxes(node: Any, parent: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(path, mailbox)`` for every mailbox in the tree below ``node``, pipes' excepted."""
    if not isinstance(node, Mapping):
        return
    path = f"{parent}/{node.get('id')}" if parent else str(node.get("id"))
    mailbox = node.get("mailbox")
    if mailbox is not None:
        yield path, mailbox
    if node.get("kind") == "pipe":  # its stage actors' queues are their inboxes
        return
    for child in node.get("children", ()):
        yield from _mailboxes(child, path)


def _take_snapshot(runtime: Any) -> Snapshot:
    # Imported when first needed: the status package serves the Prometheus bridge's
    # /metrics, so neither module needs the other to load.
    from slither_actors._status._snapshot import take_snapshot

    return take_snapshot(runtime)


@attrs.define(eq=False)
class LiveState:
    """Reads the live gauges of one runtime, from whichever thread collects them.

    Made in the runtime's Trio thread (where `attach_prometheus` or `attach_otel` runs);
    ``take`` is the snapshot function (a test gives a made-up one).
    """

    runtime: Any
    take: Callable[[Any], Snapshot] = _take_snapshot
    _token: trio.lowlevel.TrioToken | None = attrs.field(init=False, default=None)
    _thread: int = attrs.field(init=False, factory=threading.get_ident)

    def __attrs_post_init__(self) -> None:
        try:
            self._token = trio.lowlevel.current_trio_token()
        except RuntimeError:  # not in Trio: every read is taken where it is asked for
            self._token = None

    def readings(self) -> list[Reading]:
        """The live gauges now; none if the snapshot could not be taken."""
        snapshot = self._snapshot()
        return [] if snapshot is None else readings(snapshot)

    def _snapshot(self) -> Snapshot | None:
        if self._token is None or threading.get_ident() == self._thread:
            return self._guarded()
        answer: list[Snapshot | None] = []
        done = threading.Event()

        def take_in_trio() -> None:
            answer.append(self._guarded())
            done.set()

        try:
            self._token.run_sync_soon(take_in_trio)
        except trio.RunFinishedError:
            return None
        if not done.wait(SNAPSHOT_WAIT):
            _log.warning("no status snapshot within %gs: live gauges left out", SNAPSHOT_WAIT)
            return None
        return answer[0]

    def _guarded(self) -> Snapshot | None:
        try:
            return self.take(self.runtime)
        except Exception:
            _log.exception("the status snapshot failed: live gauges left out")
            return None
