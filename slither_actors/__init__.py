"""slither_actors: a Trio parent owns concurrency, state and coordination; Python worker
processes do the compute.

This module is the whole public surface: import from ``slither_actors``, never from a
private module. ``slither_actors.telemetry``, ``slither_actors.metrics``,
``slither_actors.errors`` and, inside worker processes, ``slither_actors.worker`` are
public too.

Names are imported on first use, so a worker process that needs only
``slither_actors.worker`` starts without loading trio, cattrs and the actor machinery.
"""

# Imported under private names, so that none of them shows as a public one (``sa.Any``).
import importlib as _importlib
import logging as _logging
import typing as _typing

if _typing.TYPE_CHECKING:  # what type checkers see: the names of _HOMES (a test checks)
    from slither_actors import errors as errors, metrics as metrics, telemetry as telemetry
    from slither_actors._core import (
        DEFAULT_CALL_TIMEOUT as DEFAULT_CALL_TIMEOUT,
        Actor as Actor,
        ActorRef as ActorRef,
        Backoff as Backoff,
        ChildCounts as ChildCounts,
        ChildInfo as ChildInfo,
        ChildKind as ChildKind,
        ChildSpec as ChildSpec,
        DeferredReply as DeferredReply,
        DynamicSupervisor as DynamicSupervisor,
        ExitReason as ExitReason,
        Reason as Reason,
        Registry as Registry,
        Restart as Restart,
        Stoppable as Stoppable,
        Strategy as Strategy,
        Supervisor as Supervisor,
        SupervisorRef as SupervisorRef,
        current_registry as current_registry,
        run_actor as run_actor,
    )
    from slither_actors._dispatch import (
        BatchStrategy as BatchStrategy,
        Executor as Executor,
        FixedBatch as FixedBatch,
        Halt as Halt,
        KeyPartition as KeyPartition,
        LocalExecutor as LocalExecutor,
        Recover as Recover,
        Results as Results,
        ResultStream as ResultStream,
        Retry as Retry,
        Route as Route,
        Skip as Skip,
        ToolExecutor as ToolExecutor,
        WeightedBatch as WeightedBatch,
        WorkerExecutor as WorkerExecutor,
        call_batch as call_batch,
        dispatch as dispatch,
        dispatch_stream as dispatch_stream,
        split as split,
    )
    from slither_actors._dispatch._in_process import (
        InProcessExecutor as InProcessExecutor,
        InProcessPool as InProcessPool,
    )
    from slither_actors._pipe import (
        Cardinality as Cardinality,
        ErrorRecord as ErrorRecord,
        FailItem as FailItem,
        LocalStage as LocalStage,
        Pipe as Pipe,
        PipeResult as PipeResult,
        PipeService as PipeService,
        PipeStream as PipeStream,
        RouterStage as RouterStage,
        RouteTo as RouteTo,
        SkipItem as SkipItem,
        ToOutput as ToOutput,
        WorkerStage as WorkerStage,
        run_pipe as run_pipe,
        stream_pipe as stream_pipe,
    )
    from slither_actors._pool._pool import (
        BroadcastReply as BroadcastReply,
        PoolStats as PoolStats,
        Tool as Tool,
        WorkerInfo as WorkerInfo,
        WorkerPool as WorkerPool,
    )
    from slither_actors._pool._running import (
        open_pool as open_pool,
    )
    from slither_actors._store import (
        ANY as ANY,
        NOT_FOUND as NOT_FOUND,
        Store as Store,
        StoreDirectory as StoreDirectory,
        Table as Table,
        TableKind as TableKind,
        TableLoader as TableLoader,
        View as View,
        ViewMode as ViewMode,
        ViewRegistry as ViewRegistry,
        open_store as open_store,
        view as view,
    )
    from slither_actors.config import (
        Affinity as Affinity,
        Backend as Backend,
        BridgeSettings as BridgeSettings,
        DispatchSettings as DispatchSettings,
        MetricsSettings as MetricsSettings,
        OnError as OnError,
        Ordering as Ordering,
        PoolSettings as PoolSettings,
        Settings as Settings,
        StatusSettings as StatusSettings,
        ViewScope as ViewScope,
    )
    from slither_actors.context import (
        Context as Context,
    )
    from slither_actors.errors import (
        ActorExited as ActorExited,
        BatchLengthError as BatchLengthError,
        CallTimeout as CallTimeout,
        ChildStartFailed as ChildStartFailed,
        ConfigError as ConfigError,
        DispatchError as DispatchError,
        DuplicateChild as DuplicateChild,
        HandlerAlreadyAttached as HandlerAlreadyAttached,
        ItemFailed as ItemFailed,
        MailboxFull as MailboxFull,
        MaxChildrenReached as MaxChildrenReached,
        NameNotFound as NameNotFound,
        NameTaken as NameTaken,
        NoRuntime as NoRuntime,
        NotInTrio as NotInTrio,
        PayloadError as PayloadError,
        PipeDefinitionError as PipeDefinitionError,
        PipeError as PipeError,
        PoolClosed as PoolClosed,
        PoolSaturated as PoolSaturated,
        ProtocolError as ProtocolError,
        SessionLost as SessionLost,
        SlitherError as SlitherError,
        StoreLoadFailed as StoreLoadFailed,
        SupervisorExhausted as SupervisorExhausted,
        TooManySessions as TooManySessions,
        UnknownChild as UnknownChild,
        UnknownStore as UnknownStore,
        UnknownTable as UnknownTable,
        ViewNotFound as ViewNotFound,
        ViewRefused as ViewRefused,
        ViewTimeout as ViewTimeout,
        WorkerCrashed as WorkerCrashed,
        WorkerError as WorkerError,
        WorkerStartFailed as WorkerStartFailed,
    )
    from slither_actors.item import (
        DEFAULT_ROUTE as DEFAULT_ROUTE,
        Item as Item,
    )
    from slither_actors.progress import (
        Progress as Progress,
        RichProgress as RichProgress,
    )
    from slither_actors.runtime import (
        Runtime as Runtime,
        current_runtime as current_runtime,
        load_settings as load_settings,
        open_runtime as open_runtime,
        run as run,
        start_pipe as start_pipe,
    )

# A library logs; the application decides where logs go (crash reports included).
_logging.getLogger("slither_actors").addHandler(_logging.NullHandler())

# Where each public name lives: the one list of the public surface. `__all__` and the
# names type checkers see (above) follow it.
_HOMES = {
    "ANY": "slither_actors._store",
    "Actor": "slither_actors._core",
    "ActorExited": "slither_actors.errors",
    "ActorRef": "slither_actors._core",
    "Affinity": "slither_actors.config",
    "Backend": "slither_actors.config",
    "Backoff": "slither_actors._core",
    "BatchLengthError": "slither_actors.errors",
    "BatchStrategy": "slither_actors._dispatch",
    "BridgeSettings": "slither_actors.config",
    "BroadcastReply": "slither_actors._pool._pool",
    "CallTimeout": "slither_actors.errors",
    "Cardinality": "slither_actors._pipe",
    "ChildCounts": "slither_actors._core",
    "ChildInfo": "slither_actors._core",
    "ChildKind": "slither_actors._core",
    "ChildSpec": "slither_actors._core",
    "ChildStartFailed": "slither_actors.errors",
    "ConfigError": "slither_actors.errors",
    "Context": "slither_actors.context",
    "DEFAULT_CALL_TIMEOUT": "slither_actors._core",
    "DEFAULT_ROUTE": "slither_actors.item",
    "DeferredReply": "slither_actors._core",
    "Results": "slither_actors._dispatch",
    "DispatchError": "slither_actors.errors",
    "DispatchSettings": "slither_actors.config",
    "DuplicateChild": "slither_actors.errors",
    "DynamicSupervisor": "slither_actors._core",
    "ErrorRecord": "slither_actors._pipe",
    "Executor": "slither_actors._dispatch",
    "ExitReason": "slither_actors._core",
    "FailItem": "slither_actors._pipe",
    "FixedBatch": "slither_actors._dispatch",
    "Halt": "slither_actors._dispatch",
    "HandlerAlreadyAttached": "slither_actors.errors",
    "InProcessExecutor": "slither_actors._dispatch._in_process",
    "InProcessPool": "slither_actors._dispatch._in_process",
    "Item": "slither_actors.item",
    "ItemFailed": "slither_actors.errors",
    "KeyPartition": "slither_actors._dispatch",
    "LocalExecutor": "slither_actors._dispatch",
    "LocalStage": "slither_actors._pipe",
    "MailboxFull": "slither_actors.errors",
    "MaxChildrenReached": "slither_actors.errors",
    "MetricsSettings": "slither_actors.config",
    "NOT_FOUND": "slither_actors._store",
    "NameNotFound": "slither_actors.errors",
    "NameTaken": "slither_actors.errors",
    "NoRuntime": "slither_actors.errors",
    "NotInTrio": "slither_actors.errors",
    "OnError": "slither_actors.config",
    "Ordering": "slither_actors.config",
    "PayloadError": "slither_actors.errors",
    "Pipe": "slither_actors._pipe",
    "PipeDefinitionError": "slither_actors.errors",
    "PipeError": "slither_actors.errors",
    "PipeResult": "slither_actors._pipe",
    "PipeService": "slither_actors._pipe",
    "PipeStream": "slither_actors._pipe",
    "PoolClosed": "slither_actors.errors",
    "PoolSaturated": "slither_actors.errors",
    "PoolSettings": "slither_actors.config",
    "PoolStats": "slither_actors._pool._pool",
    "Progress": "slither_actors.progress",
    "ProtocolError": "slither_actors.errors",
    "Reason": "slither_actors._core",
    "Recover": "slither_actors._dispatch",
    "Registry": "slither_actors._core",
    "Restart": "slither_actors._core",
    "RichProgress": "slither_actors.progress",
    "ResultStream": "slither_actors._dispatch",
    "Retry": "slither_actors._dispatch",
    "Route": "slither_actors._dispatch",
    "RouteTo": "slither_actors._pipe",
    "RouterStage": "slither_actors._pipe",
    "Runtime": "slither_actors.runtime",
    "SessionLost": "slither_actors.errors",
    "TooManySessions": "slither_actors.errors",
    "Settings": "slither_actors.config",
    "StatusSettings": "slither_actors.config",
    "Skip": "slither_actors._dispatch",
    "SkipItem": "slither_actors._pipe",
    "SlitherError": "slither_actors.errors",
    "Stoppable": "slither_actors._core",
    "Store": "slither_actors._store",
    "StoreDirectory": "slither_actors._store",
    "StoreLoadFailed": "slither_actors.errors",
    "Strategy": "slither_actors._core",
    "Supervisor": "slither_actors._core",
    "SupervisorExhausted": "slither_actors.errors",
    "SupervisorRef": "slither_actors._core",
    "Table": "slither_actors._store",
    "TableKind": "slither_actors._store",
    "TableLoader": "slither_actors._store",
    "ToOutput": "slither_actors._pipe",
    "Tool": "slither_actors._pool._pool",
    "ToolExecutor": "slither_actors._dispatch",
    "UnknownChild": "slither_actors.errors",
    "UnknownStore": "slither_actors.errors",
    "UnknownTable": "slither_actors.errors",
    "View": "slither_actors._store",
    "ViewMode": "slither_actors._store",
    "ViewNotFound": "slither_actors.errors",
    "ViewRefused": "slither_actors.errors",
    "ViewRegistry": "slither_actors._store",
    "ViewScope": "slither_actors.config",
    "ViewTimeout": "slither_actors.errors",
    "WeightedBatch": "slither_actors._dispatch",
    "WorkerCrashed": "slither_actors.errors",
    "WorkerError": "slither_actors.errors",
    "WorkerExecutor": "slither_actors._dispatch",
    "WorkerInfo": "slither_actors._pool._pool",
    "WorkerPool": "slither_actors._pool._pool",
    "WorkerStage": "slither_actors._pipe",
    "WorkerStartFailed": "slither_actors.errors",
    "call_batch": "slither_actors._dispatch",
    "current_registry": "slither_actors._core",
    "current_runtime": "slither_actors.runtime",
    "dispatch": "slither_actors._dispatch",
    "dispatch_stream": "slither_actors._dispatch",
    "errors": "slither_actors.errors",
    "load_settings": "slither_actors.runtime",
    "metrics": "slither_actors.metrics",
    "open_pool": "slither_actors._pool._running",
    "open_runtime": "slither_actors.runtime",
    "open_store": "slither_actors._store",
    "run": "slither_actors.runtime",
    "run_actor": "slither_actors._core",
    "run_pipe": "slither_actors._pipe",
    "split": "slither_actors._dispatch",
    "start_pipe": "slither_actors.runtime",
    "stream_pipe": "slither_actors._pipe",
    "telemetry": "slither_actors.telemetry",
    "view": "slither_actors._store",
}

# Public names that are modules, not names inside a module.
_MODULES = frozenset({"errors", "metrics", "telemetry"})

__all__ = sorted(_HOMES)


if not _typing.TYPE_CHECKING:  # hidden from type checkers, so that a typo is an error there

    def __getattr__(name: str) -> _typing.Any:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module 'slither_actors' has no attribute {name!r}")
        module = _importlib.import_module(home)
        value = module if name in _MODULES else getattr(module, name)
        globals()[name] = value
        if home not in _PUBLISHED:
            _publish()
        return value


_PUBLISHED: set[str] = set()  # the homes whose public names say they are ours


def _publish() -> None:
    """Make every public class and function of each private home imported so far say it is
    ``slither_actors.X`` (in reprs, tracebacks, ``help`` and pickles), as trio does: users
    import it from here, and its private home may move.

    A class's annotations are strings (postponed), which ``typing.get_type_hints`` reads
    in the globals of the class's ``__module__``: so they are resolved first, while that is
    still their home, and kept resolved; get_type_hints then works on them, and on users'
    subclasses of them, as before."""
    import sys

    ready = {
        home
        for home in set(_HOMES.values()) - _PUBLISHED
        if home in sys.modules
        # Still being imported (this runs from an import inside it): later.
        and not getattr(sys.modules[home].__spec__, "_initializing", False)
    }
    _PUBLISHED.update(ready)
    published = []
    for name, home in _HOMES.items():
        if home in ready and "._" in home:  # a public module's names say where they are
            value = getattr(sys.modules[home], name)
            if callable(value) and getattr(value, "__module__", "").startswith(
                "slither_actors._"
            ):
                published.append(value)  # not a constant, nor an alias of a foreign type
    resolved = {value: _resolved_annotations(value) for value in published}
    for value, annotations in resolved.items():
        if annotations is not None:
            value.__annotations__ = annotations
        value.__module__ = "slither_actors"


def _resolved_annotations(value: _typing.Any) -> dict[str, _typing.Any] | None:
    """The class's own annotations, resolved (None for a function, or a class with a
    name only type checkers see)."""
    import inspect

    own = inspect.get_annotations(value) if isinstance(value, type) else None
    if not own:
        return None
    try:
        hints = _typing.get_type_hints(value, include_extras=True)
    except NameError:
        return None
    return {name: hints[name] for name in own}


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
