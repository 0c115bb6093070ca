"""slither_actors: a Trio parent owns concurrency, state and coordination; Python worker
processes do the compute.

This module is the whole public surface: import from ``slither_actors``, never from a
private module. ``slither_actors.telemetry``, ``slither_actors.errors`` and, inside worker
processes, ``slither_actors.worker`` are public too.

Names are imported on first use, so a worker process that needs only
``slither_actors.worker`` starts without loading trio, cattrs and the actor machinery.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slither_actors import errors as errors
    from slither_actors import telemetry as telemetry
    from slither_actors.config import (
        Affinity as Affinity,
    )
    from slither_actors.config import (
        BridgeSettings as BridgeSettings,
    )
    from slither_actors.config import (
        DispatchSettings as DispatchSettings,
    )
    from slither_actors.config import (
        OnError as OnError,
    )
    from slither_actors.config import (
        Ordering as Ordering,
    )
    from slither_actors.config import (
        Settings as Settings,
    )
    from slither_actors.config import (
        ViewScope as ViewScope,
    )
    from slither_actors.context import Context as Context
    from slither_actors.core import (
        DEFAULT_CALL_TIMEOUT as DEFAULT_CALL_TIMEOUT,
    )
    from slither_actors.core import (
        Actor as Actor,
    )
    from slither_actors.core import (
        ActorRef as ActorRef,
    )
    from slither_actors.core import (
        Backoff as Backoff,
    )
    from slither_actors.core import (
        ChildCounts as ChildCounts,
    )
    from slither_actors.core import (
        ChildInfo as ChildInfo,
    )
    from slither_actors.core import (
        ChildKind as ChildKind,
    )
    from slither_actors.core import (
        ChildSpec as ChildSpec,
    )
    from slither_actors.core import (
        DeferredReply as DeferredReply,
    )
    from slither_actors.core import (
        DynamicSupervisor as DynamicSupervisor,
    )
    from slither_actors.core import (
        ExitReason as ExitReason,
    )
    from slither_actors.core import (
        Reason as Reason,
    )
    from slither_actors.core import (
        Registry as Registry,
    )
    from slither_actors.core import (
        Restart as Restart,
    )
    from slither_actors.core import (
        Stoppable as Stoppable,
    )
    from slither_actors.core import (
        Strategy as Strategy,
    )
    from slither_actors.core import (
        Supervisor as Supervisor,
    )
    from slither_actors.core import (
        SupervisorRef as SupervisorRef,
    )
    from slither_actors.core import (
        current_registry as current_registry,
    )
    from slither_actors.core import (
        run_actor as run_actor,
    )
    from slither_actors.dispatching import (
        BatchStrategy as BatchStrategy,
    )
    from slither_actors.dispatching import (
        Executor as Executor,
    )
    from slither_actors.dispatching import (
        FixedBatch as FixedBatch,
    )
    from slither_actors.dispatching import (
        Halt as Halt,
    )
    from slither_actors.dispatching import (
        KeyPartition as KeyPartition,
    )
    from slither_actors.dispatching import (
        LocalExecutor as LocalExecutor,
    )
    from slither_actors.dispatching import (
        Results as Results,
    )
    from slither_actors.dispatching import (
        ResultStream as ResultStream,
    )
    from slither_actors.dispatching import (
        Retry as Retry,
    )
    from slither_actors.dispatching import (
        Route as Route,
    )
    from slither_actors.dispatching import (
        Skip as Skip,
    )
    from slither_actors.dispatching import (
        ToolExecutor as ToolExecutor,
    )
    from slither_actors.dispatching import (
        WeightedBatch as WeightedBatch,
    )
    from slither_actors.dispatching import (
        WorkerExecutor as WorkerExecutor,
    )
    from slither_actors.dispatching import (
        call_batch as call_batch,
    )
    from slither_actors.dispatching import (
        dispatch as dispatch,
    )
    from slither_actors.dispatching import (
        dispatch_stream as dispatch_stream,
    )
    from slither_actors.dispatching import (
        split as split,
    )
    from slither_actors.errors import (
        ActorExited as ActorExited,
    )
    from slither_actors.errors import (
        BatchLengthError as BatchLengthError,
    )
    from slither_actors.errors import (
        CallTimeout as CallTimeout,
    )
    from slither_actors.errors import (
        ChildStartFailed as ChildStartFailed,
    )
    from slither_actors.errors import (
        ConfigError as ConfigError,
    )
    from slither_actors.errors import (
        DispatchError as DispatchError,
    )
    from slither_actors.errors import (
        DuplicateChild as DuplicateChild,
    )
    from slither_actors.errors import (
        HandlerAlreadyAttached as HandlerAlreadyAttached,
    )
    from slither_actors.errors import (
        ItemFailed as ItemFailed,
    )
    from slither_actors.errors import (
        MailboxFull as MailboxFull,
    )
    from slither_actors.errors import (
        MaxChildrenReached as MaxChildrenReached,
    )
    from slither_actors.errors import (
        NameNotFound as NameNotFound,
    )
    from slither_actors.errors import (
        NameTaken as NameTaken,
    )
    from slither_actors.errors import (
        NoRuntime as NoRuntime,
    )
    from slither_actors.errors import (
        PayloadError as PayloadError,
    )
    from slither_actors.errors import (
        PipeDefinitionError as PipeDefinitionError,
    )
    from slither_actors.errors import (
        PipeError as PipeError,
    )
    from slither_actors.errors import (
        PoolClosed as PoolClosed,
    )
    from slither_actors.errors import (
        PoolSaturated as PoolSaturated,
    )
    from slither_actors.errors import (
        ProtocolError as ProtocolError,
    )
    from slither_actors.errors import (
        SessionLost as SessionLost,
    )
    from slither_actors.errors import (
        SlitherError as SlitherError,
    )
    from slither_actors.errors import (
        StoreLoadFailed as StoreLoadFailed,
    )
    from slither_actors.errors import (
        SupervisorExhausted as SupervisorExhausted,
    )
    from slither_actors.errors import (
        TooManySessions as TooManySessions,
    )
    from slither_actors.errors import (
        UnknownChild as UnknownChild,
    )
    from slither_actors.errors import (
        UnknownStore as UnknownStore,
    )
    from slither_actors.errors import (
        UnknownTable as UnknownTable,
    )
    from slither_actors.errors import (
        ViewNotFound as ViewNotFound,
    )
    from slither_actors.errors import (
        ViewRefused as ViewRefused,
    )
    from slither_actors.errors import (
        ViewTimeout as ViewTimeout,
    )
    from slither_actors.errors import (
        WorkerCrashed as WorkerCrashed,
    )
    from slither_actors.errors import (
        WorkerError as WorkerError,
    )
    from slither_actors.errors import (
        WorkerStartFailed as WorkerStartFailed,
    )
    from slither_actors.item import DEFAULT_ROUTE as DEFAULT_ROUTE
    from slither_actors.item import Item as Item
    from slither_actors.pipe import (
        Cardinality as Cardinality,
    )
    from slither_actors.pipe import (
        ErrorRecord as ErrorRecord,
    )
    from slither_actors.pipe import (
        FailItem as FailItem,
    )
    from slither_actors.pipe import (
        LocalStage as LocalStage,
    )
    from slither_actors.pipe import (
        Pipe as Pipe,
    )
    from slither_actors.pipe import (
        PipeResult as PipeResult,
    )
    from slither_actors.pipe import (
        PipeService as PipeService,
    )
    from slither_actors.pipe import (
        PipeStream as PipeStream,
    )
    from slither_actors.pipe import (
        RouterStage as RouterStage,
    )
    from slither_actors.pipe import (
        RouteTo as RouteTo,
    )
    from slither_actors.pipe import (
        SkipItem as SkipItem,
    )
    from slither_actors.pipe import (
        ToOutput as ToOutput,
    )
    from slither_actors.pipe import (
        WorkerStage as WorkerStage,
    )
    from slither_actors.pipe import (
        run_pipe as run_pipe,
    )
    from slither_actors.pipe import (
        stream_pipe as stream_pipe,
    )
    from slither_actors.runtime import (
        Runtime as Runtime,
    )
    from slither_actors.runtime import (
        current_runtime as current_runtime,
    )
    from slither_actors.runtime import (
        load_settings as load_settings,
    )
    from slither_actors.runtime import (
        open_runtime as open_runtime,
    )
    from slither_actors.runtime import (
        run as run,
    )
    from slither_actors.runtime import (
        start_pipe as start_pipe,
    )
    from slither_actors.store import (
        ANY as ANY,
    )
    from slither_actors.store import (
        NOT_FOUND as NOT_FOUND,
    )
    from slither_actors.store import (
        Store as Store,
    )
    from slither_actors.store import (
        StoreDirectory as StoreDirectory,
    )
    from slither_actors.store import (
        Table as Table,
    )
    from slither_actors.store import (
        TableKind as TableKind,
    )
    from slither_actors.store import (
        TableLoader as TableLoader,
    )
    from slither_actors.store import (
        View as View,
    )
    from slither_actors.store import (
        ViewMode as ViewMode,
    )
    from slither_actors.store import (
        ViewRegistry as ViewRegistry,
    )
    from slither_actors.store import (
        open_store as open_store,
    )
    from slither_actors.store import (
        view as view,
    )
    from slither_actors.workers._pool import (
        BroadcastReply as BroadcastReply,
    )
    from slither_actors.workers._pool import (
        PoolStats as PoolStats,
    )
    from slither_actors.workers._pool import (
        Tool as Tool,
    )
    from slither_actors.workers._pool import (
        WorkerInfo as WorkerInfo,
    )
    from slither_actors.workers._pool import (
        WorkerPool as WorkerPool,
    )
    from slither_actors.workers._running import (
        open_pool as open_pool,
    )

__version__ = "0.1.0"

# A library logs; the application decides where logs go (crash reports included).
logging.getLogger("slither_actors").addHandler(logging.NullHandler())

# Where each public name lives.
_HOMES = {
    "ANY": "slither_actors.store",
    "Actor": "slither_actors.core",
    "ActorExited": "slither_actors.errors",
    "ActorRef": "slither_actors.core",
    "Affinity": "slither_actors.config",
    "Backoff": "slither_actors.core",
    "BatchLengthError": "slither_actors.errors",
    "BatchStrategy": "slither_actors.dispatching",
    "BridgeSettings": "slither_actors.config",
    "BroadcastReply": "slither_actors.workers._pool",
    "CallTimeout": "slither_actors.errors",
    "Cardinality": "slither_actors.pipe",
    "ChildCounts": "slither_actors.core",
    "ChildInfo": "slither_actors.core",
    "ChildKind": "slither_actors.core",
    "ChildSpec": "slither_actors.core",
    "ChildStartFailed": "slither_actors.errors",
    "ConfigError": "slither_actors.errors",
    "Context": "slither_actors.context",
    "DEFAULT_CALL_TIMEOUT": "slither_actors.core",
    "DEFAULT_ROUTE": "slither_actors.item",
    "DeferredReply": "slither_actors.core",
    "Results": "slither_actors.dispatching",
    "DispatchError": "slither_actors.errors",
    "DispatchSettings": "slither_actors.config",
    "DuplicateChild": "slither_actors.errors",
    "DynamicSupervisor": "slither_actors.core",
    "ErrorRecord": "slither_actors.pipe",
    "Executor": "slither_actors.dispatching",
    "ExitReason": "slither_actors.core",
    "FailItem": "slither_actors.pipe",
    "FixedBatch": "slither_actors.dispatching",
    "Halt": "slither_actors.dispatching",
    "HandlerAlreadyAttached": "slither_actors.errors",
    "Item": "slither_actors.item",
    "ItemFailed": "slither_actors.errors",
    "KeyPartition": "slither_actors.dispatching",
    "LocalExecutor": "slither_actors.dispatching",
    "LocalStage": "slither_actors.pipe",
    "MailboxFull": "slither_actors.errors",
    "MaxChildrenReached": "slither_actors.errors",
    "NOT_FOUND": "slither_actors.store",
    "NameNotFound": "slither_actors.errors",
    "NameTaken": "slither_actors.errors",
    "NoRuntime": "slither_actors.errors",
    "OnError": "slither_actors.config",
    "Ordering": "slither_actors.config",
    "PayloadError": "slither_actors.errors",
    "Pipe": "slither_actors.pipe",
    "PipeDefinitionError": "slither_actors.errors",
    "PipeError": "slither_actors.errors",
    "PipeResult": "slither_actors.pipe",
    "PipeService": "slither_actors.pipe",
    "PipeStream": "slither_actors.pipe",
    "PoolClosed": "slither_actors.errors",
    "PoolSaturated": "slither_actors.errors",
    "PoolSettings": "slither_actors.config",
    "PoolStats": "slither_actors.workers._pool",
    "ProtocolError": "slither_actors.errors",
    "Reason": "slither_actors.core",
    "Registry": "slither_actors.core",
    "Restart": "slither_actors.core",
    "ResultStream": "slither_actors.dispatching",
    "Retry": "slither_actors.dispatching",
    "Route": "slither_actors.dispatching",
    "RouteTo": "slither_actors.pipe",
    "RouterStage": "slither_actors.pipe",
    "Runtime": "slither_actors.runtime",
    "SessionLost": "slither_actors.errors",
    "TooManySessions": "slither_actors.errors",
    "Settings": "slither_actors.config",
    "Skip": "slither_actors.dispatching",
    "SkipItem": "slither_actors.pipe",
    "SlitherError": "slither_actors.errors",
    "Stoppable": "slither_actors.core",
    "Store": "slither_actors.store",
    "StoreDirectory": "slither_actors.store",
    "StoreLoadFailed": "slither_actors.errors",
    "Strategy": "slither_actors.core",
    "Supervisor": "slither_actors.core",
    "SupervisorExhausted": "slither_actors.errors",
    "SupervisorRef": "slither_actors.core",
    "Table": "slither_actors.store",
    "TableKind": "slither_actors.store",
    "TableLoader": "slither_actors.store",
    "ToOutput": "slither_actors.pipe",
    "Tool": "slither_actors.workers._pool",
    "ToolExecutor": "slither_actors.dispatching",
    "UnknownChild": "slither_actors.errors",
    "UnknownStore": "slither_actors.errors",
    "UnknownTable": "slither_actors.errors",
    "View": "slither_actors.store",
    "ViewMode": "slither_actors.store",
    "ViewNotFound": "slither_actors.errors",
    "ViewRefused": "slither_actors.errors",
    "ViewRegistry": "slither_actors.store",
    "ViewScope": "slither_actors.config",
    "ViewTimeout": "slither_actors.errors",
    "WeightedBatch": "slither_actors.dispatching",
    "WorkerCrashed": "slither_actors.errors",
    "WorkerError": "slither_actors.errors",
    "WorkerExecutor": "slither_actors.dispatching",
    "WorkerInfo": "slither_actors.workers._pool",
    "WorkerPool": "slither_actors.workers._pool",
    "WorkerStage": "slither_actors.pipe",
    "WorkerStartFailed": "slither_actors.errors",
    "call_batch": "slither_actors.dispatching",
    "current_registry": "slither_actors.core",
    "current_runtime": "slither_actors.runtime",
    "dispatch": "slither_actors.dispatching",
    "dispatch_stream": "slither_actors.dispatching",
    "errors": "slither_actors.errors",
    "load_settings": "slither_actors.runtime",
    "open_pool": "slither_actors.workers._running",
    "open_runtime": "slither_actors.runtime",
    "open_store": "slither_actors.store",
    "run": "slither_actors.runtime",
    "run_actor": "slither_actors.core",
    "run_pipe": "slither_actors.pipe",
    "split": "slither_actors.dispatching",
    "start_pipe": "slither_actors.runtime",
    "stream_pipe": "slither_actors.pipe",
    "telemetry": "slither_actors.telemetry",
    "view": "slither_actors.store",
}

# Public names that are modules, not names inside a module.
_MODULES = frozenset({"errors", "telemetry"})

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'slither_actors' has no attribute {name!r}")
    module = importlib.import_module(home)
    value = module if name in _MODULES else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
