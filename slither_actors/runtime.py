"""The runtime: the root supervision tree every store, pool and pipe of an application lives in."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from slither_actors._checks import check_callable, check_instance
from slither_actors._core import (
    ChildKind,
    ChildSpec,
    DynamicSupervisor,
    Registry,
    Supervisor,
    SupervisorRef,
    open_own_nursery,
    require_trio,
    use_registry,
)
from slither_actors._logs import LogFormat, check_log_format, logging_to_stderr
from slither_actors._pipe import ErrorRecord, Pipe, PipeService
from slither_actors._pipe._run import Run, active_runs
from slither_actors._pipe._service import Sink, pipe_service_spec
from slither_actors._pool import pool_finder
from slither_actors._pool._pool import WorkerPool
from slither_actors._pool._running import pool_child_spec
from slither_actors._status._wiring import attached_metrics, status_child_spec
from slither_actors._store import (
    ActiveStores,
    Store,
    StoreDirectory,
    ViewRegistry,
    active_stores,
    store_child_spec,
)
from slither_actors.config import Backend, PoolSettings, Settings, active_settings
from slither_actors.errors import ConfigError, NoRuntime, PoolClosed

__all__ = ["Runtime", "current_runtime", "open_runtime", "run", "start_pipe"]

T = TypeVar("T")

SettingsSource = Settings | Mapping[str, Any] | str | Path | None


@attrs.define(eq=False)
class Runtime:
    """A running application: its settings, its name registry and its supervision tree.

    ``root`` is the root supervisor (one_for_one): first ``stores``, one child per store;
    then ``pools``, one child per worker pool; then ``services``, a dynamic supervisor for
    children added at run time with `start_child` (so a pipe started there stops before
    the pools and stores it uses); then ``status`` when the settings serve a status page;
    then the children given to `open_runtime`. ``stores`` lists the running stores by name
    and ``views`` the store views the pools' workers can call.
    """

    settings: Settings
    registry: Registry
    stores: StoreDirectory[Store]
    views: ViewRegistry
    root: SupervisorRef = attrs.field(init=False)  # set as soon as the tree has started

    # The metrics bridges the settings attached (None when not asked for).
    runs: set[Run] = attrs.field(factory=set, init=False, repr=False)  # pipe runs going on
    prometheus: Any = attrs.field(default=None, init=False, repr=False)
    otel: Any = attrs.field(default=None, init=False, repr=False)

    _pool_lock: trio.Lock = attrs.field(factory=trio.Lock, init=False, repr=False)
    _pool_spec: PoolSpecMaker = attrs.field(default=pool_child_spec, init=False, repr=False)
    _pools: dict[str, WorkerPool] = attrs.field(factory=dict, init=False, repr=False)

    @property
    def services(self) -> SupervisorRef:
        """The dynamic supervisor for children started at run time (its current incarnation)."""
        services: SupervisorRef = self._running_child(self.root, "services")
        return services

    def _running_child(self, supervisor: SupervisorRef, child_id: str) -> Any:
        for child in supervisor.which_children():
            if child.id == child_id and child.running:
                return child.value
        raise NoRuntime(f"the runtime's {child_id!r} is not running (restarting?)")

    @property
    def status_urls(self) -> list[str]:
        """Where the status page is served (``http://host:port``), or [] when it is not."""
        for child in self.root.which_children():
            if child.id == "status" and child.running:
                urls: list[str] = child.value
                return urls
        return []

    async def pool(self, name: str = "default") -> WorkerPool:
        """The running worker pool ``name``.

        Pools listed in the settings start with the runtime. The ``default`` pool (one
        worker per CPU), unless configured, starts on first use: this call then waits until
        its workers are ready. Raises `LookupError` for an unknown name and `PoolClosed`
        while the pool restarts.
        """
        cached = self._pools.get(name)
        if cached is not None and not cached.closed:
            return cached  # the common case, once per batch of a dispatch: no search
        pools = self._running_child(self.root, "pools")
        found = self._pool_child(pools, name)
        if found is not None:
            return found
        configured = any(pool.name == name for pool in self.settings.pools)
        if name != "default" and not configured:
            known = ", ".join(pool.name for pool in self.settings.pools) or "none"
            raise LookupError(f"no pool named {name!r} (configured: {known})")
        if configured:
            raise PoolClosed(name)  # it is there, but restarting
        async with self._pool_lock:  # the default pool starts on first use, once
            found = self._pool_child(pools, name)
            if found is not None:
                return found
            if any(child.id == "pool default" for child in pools.which_children()):
                raise PoolClosed(name)  # it was started, and is restarting now
            spec = self._pool_spec(PoolSettings(), self.views.resolve)
            started: WorkerPool = await pools.start_child(spec)
            return started

    def _pool_child(self, pools: SupervisorRef, name: str) -> WorkerPool | None:
        """The pool ``name`` if it runs (noted for next time), else None."""
        for child in pools.which_children():
            if child.id == f"pool {name}" and child.running:
                running: WorkerPool = child.value
                self._pools[name] = running
                return running
        return None

    def store(self, name: str | type[Store]) -> Store:
        """The running store ``name`` (or the one running under a class's default name).

        Raises `UnknownStore` if there is none, `ValueError` if ``name`` is neither a str nor
        a `Store` subclass.
        """
        if isinstance(name, str):
            return self.stores.get(name)
        if isinstance(name, type) and issubclass(name, Store):
            return self.stores.get(name.default_name())
        raise ValueError(f"name must be a store name or a Store subclass, not {name!r:.60}")

    async def start_store(self, cls: type[Store], name: str | None = None) -> Store:
        """Start a store of class ``cls`` under the runtime's ``stores`` supervisor and
        return it once loaded. Raises `ChildStartFailed` (caused by `StoreLoadFailed`) if
        its first load fails, `DuplicateChild` if a store of that name runs already, and
        `ValueError` for a ``cls`` that is not a `Store` subclass or a ``name`` that is not
        None or a non-empty str."""
        spec = store_child_spec(cls, name, directory=self.stores, registry=self.views)
        await self._running_child(self.root, "stores").start_child(spec)
        return self.stores.get(name or cls.default_name())

    async def start_child(self, spec: ChildSpec) -> Any:
        """Start ``spec`` under the runtime's ``services`` supervisor; return its started value."""
        return await self.services.start_child(spec)


_current: ContextVar[Runtime | None] = ContextVar("slither_actors_runtime", default=None)

PoolSpecMaker = Callable[[PoolSettings, Any], ChildSpec]
# What builds the child spec of each pool a runtime opened here starts: the pytest plugin's
# in-process mode sets it around the runtimes it opens, for pools with no processes.
pool_spec_maker: ContextVar[PoolSpecMaker] = ContextVar(
    "slither_actors_pool_spec", default=pool_child_spec
)


def current_runtime() -> Runtime:
    """The runtime this task runs in; raise `NoRuntime` outside `open_runtime`."""
    runtime = _current.get()
    if runtime is None:
        raise NoRuntime("no slither_actors runtime is open here; use open_runtime() or run()")
    return runtime


def load_settings(source: SettingsSource) -> Settings:
    """Settings from a `Settings`, a mapping, a TOML file or a pyproject.toml (None: defaults),
    with the ``SLITHER_...`` environment variables on top (`Settings.with_env`).

    Raises `ConfigError` for bad settings or a bad variable, or for a ``source`` of none of
    those kinds.
    """
    return _settings_from(source).with_env()


def _settings_from(source: SettingsSource) -> Settings:
    if source is None:
        return Settings()
    if isinstance(source, Settings):
        return source
    if isinstance(source, Mapping):
        return Settings.from_dict(source)
    if not isinstance(source, str | Path):
        problem = (
            f"expected Settings, a mapping or the path of a TOML file, "
            f"got {type(source).__name__} {source!r:.60}"
        )
        raise ConfigError("settings", [problem])
    path = Path(source)
    if path.name == "pyproject.toml":
        return Settings.from_pyproject(path)
    return Settings.from_toml(path)


@asynccontextmanager
async def open_runtime(
    settings: SettingsSource = None,
    *,
    children: Sequence[ChildSpec] = (),
    max_restarts: int = 3,
    max_seconds: float = 5.0,
) -> AsyncIterator[Runtime]:
    """Start the root supervision tree; stop all of it when the block exits.

    ``children`` start in order after the runtime's own, and the block runs once all have
    started. Leaving the block, normally or by an exception, cancellation or Ctrl-C, stops
    every child in reverse start order. An exception raised in the block propagates
    unchanged; if the root supervisor itself gives up, `SupervisorExhausted` is raised
    from the block. Before anything starts, bad settings raise `ConfigError`, and a child
    that is not a `ChildSpec`, a ``max_restarts`` that is not an int of 0 or more or a
    ``max_seconds`` that is not a number of seconds above 0 raises `ValueError`.
    """
    require_trio("open_runtime")
    loaded = load_settings(settings)
    for index, child in enumerate(children):  # named as given, before the runtime's own
        check_instance(f"children[{index}]", child, ChildSpec)
    registry = Registry()
    directory = StoreDirectory[Store]()
    views = ViewRegistry(loaded.bridge.default_scope)
    stores = Supervisor(
        [
            store_child_spec(_import_store(entry, index), directory=directory, registry=views)
            for index, entry in enumerate(loaded.stores)
        ],
        name="stores",
    )
    make_pool_spec = _backed(pool_spec_maker.get())
    pools = Supervisor(
        [make_pool_spec(pool, views.resolve) for pool in loaded.pools], name="pools"
    )
    runtime = Runtime(loaded, registry, directory, views)
    runtime._pool_spec = make_pool_spec
    status = [] if loaded.status.address is None else [status_child_spec(runtime, loaded.status)]
    root = Supervisor(
        children=[
            ChildSpec("stores", stores.start, kind=ChildKind.SUPERVISOR),
            ChildSpec("pools", pools.start, kind=ChildKind.SUPERVISOR),
            # After the stores and pools its pipes use, so it stops (and drains) before them.
            ChildSpec(
                "services",
                DynamicSupervisor(name="services").start,
                kind=ChildKind.SUPERVISOR,
            ),
            *status,
            *children,
        ],
        max_restarts=max_restarts,
        max_seconds=max_seconds,
        name="runtime",
    )
    # Set before the tree starts, so every task in it (a pipe started at run time, say)
    # finds this runtime, its registry and its pools.
    token, finder = _current.set(runtime), pool_finder.set(runtime.pool)
    settings_token = active_settings.set(loaded)
    stores_token = active_stores.set(ActiveStores(directory, views))
    runs_token = active_runs.set(runtime.runs)
    try:
        with use_registry(registry), attached_metrics(runtime, loaded.metrics):
            async with open_own_nursery() as nursery:
                runtime.root = await nursery.start(root.start)
                try:
                    yield runtime
                finally:
                    runtime.root.request_stop()
    finally:
        active_runs.reset(runs_token)
        active_stores.reset(stores_token)
        active_settings.reset(settings_token)
        pool_finder.reset(finder)
        _current.reset(token)


def _backed(make_pool_spec: PoolSpecMaker) -> PoolSpecMaker:
    """``make_pool_spec``, but for a pool whose backend is Ray: its Ray pool's spec."""

    def spec_for(settings: PoolSettings, resolve_view: Any) -> ChildSpec:
        if settings.backend is Backend.RAY:
            from slither_actors._ray import ray_pool_child_spec

            return ray_pool_child_spec(settings, resolve_view)
        return make_pool_spec(settings, resolve_view)

    return spec_for


def _import_store(entry: str, index: int) -> type[Store]:
    """The store class an entry of ``settings.stores`` names (``"module:ClassName"``)."""
    where = f"settings.stores[{index}]"
    module_name, _, class_name = entry.partition(":")
    if not module_name or not class_name:
        raise ConfigError("settings", [f"expected 'module:ClassName', got {entry!r} @ {where}"])
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError("settings", [f"cannot import {entry!r}: {exc} @ {where}"]) from exc
    if not (isinstance(found, type) and issubclass(found, Store)):
        raise ConfigError("settings", [f"{entry!r} is not a Store subclass @ {where}"])
    return found


def run(
    main: Callable[..., Awaitable[T]],
    *args: Any,
    settings: SettingsSource = None,
    children: Sequence[ChildSpec] = (),
    log_format: LogFormat | None = "text",
) -> T:
    """Run ``await main(runtime, *args)`` inside a fresh runtime under `trio.run`.

    The synchronous entry point for scripts; returns what ``main`` returns. If the program
    configured no logging, the library's own (crash reports, restarts, what workers print)
    goes to stderr while it runs: as text, or one JSON object per line with
    ``log_format="json"``; None sets nothing up. Raises `ValueError` if ``main`` is not
    callable or ``log_format`` is none of those, before anything starts.
    """
    check_callable("main", main)
    log_format = check_log_format(log_format)

    async def main_in_runtime() -> T:
        async with open_runtime(settings, children=children) as runtime:
            return await main(runtime, *args)

    with logging_to_stderr(log_format):
        return trio.run(main_in_runtime)


async def start_pipe(
    pipe: type[Pipe],
    source: AsyncIterable[Any],
    sink: Sink,
    *,
    session_id: str | None = None,
    on_error: Callable[[ErrorRecord], None] | None = None,
    shutdown: float = 10.0,
) -> PipeService:
    """Run ``pipe`` as a long-lived service of the current runtime and return its handle.

    It reads ``source`` (an async iterable) until that ends or the pipe is stopped, and
    hands every item that leaves to ``sink``: ``await sink(output, item)``, or
    ``await sink.send((output, item))`` for a channel. ``on_error`` receives each error
    record as it is made (by default they are logged). The pipe runs under the runtime's
    ``services`` supervisor; when the runtime stops, it drains for at most ``shutdown``
    seconds. Raises `NoRuntime` outside a runtime.
    """
    require_trio("start_pipe")
    spec = pipe_service_spec(
        pipe, source, sink, session_id=session_id, on_error=on_error, shutdown=shutdown
    )
    service: PipeService = await current_runtime().start_child(spec)
    return service
