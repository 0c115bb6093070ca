"""pytest fixtures for testing applications built on slither_actors (docs/testing.md).

pytest loads this plugin in every session where slither_actors is installed, so it defines
hooks and fixtures only, imports nothing of the library until a fixture runs, and names
everything ``slither_``. The fixtures that open a runtime are async: they need pytest-trio
(with ``trio_mode = true``, or tests marked ``trio``), and a session without it is not
affected unless a test asks for one.

Worker calls run in-process by default (``--slither-workers=real``, or the
``slither_workers`` marker, runs them in worker processes): `slither_runtime` then starts
every pool of its runtime as an `InProcessPool`, so the worker stages of a user's pipe,
``WorkerExecutor`` and ``runtime.pool()`` all reach their ``module:function`` targets in
the test's own process.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import slither_actors as sa
    from slither_actors.telemetry import Event, EventName

IN_PROCESS, REAL = "in-process", "real"
MODES = (IN_PROCESS, REAL)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("slither_actors").addoption(
        "--slither-workers",
        choices=MODES,
        default=IN_PROCESS,
        help="run worker calls in this process (in-process, the default) or in real worker "
        "processes (real), in tests that use the slither_ fixtures",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slither_workers(*modes): run the test's worker calls 'in-process' or 'real', "
        "whatever --slither-workers says; with both, the test runs once in each mode",
    )
    config.addinivalue_line(
        "markers",
        "slither_settings(settings): the settings slither_runtime opens its runtime with "
        "(Settings, a dict or the path of a TOML file)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("slither_workers")
    if marker is None:
        return
    modes = [_checked_mode(mode) for mode in marker.args]
    if len(modes) > 1 and "slither_workers" in metafunc.fixturenames:
        metafunc.parametrize("slither_workers", modes, indirect=True)


def _checked_mode(mode: Any) -> str:
    if mode not in MODES:
        raise pytest.UsageError(f"slither_workers takes 'in-process' or 'real', not {mode!r}")
    return str(mode)


@pytest.fixture
def slither_workers(request: pytest.FixtureRequest) -> str:
    """Where this test's worker calls run: ``"in-process"`` or ``"real"``.

    The ``slither_workers`` marker decides (with two modes, the test runs in each), else
    ``--slither-workers`` (default in-process)."""
    if hasattr(request, "param"):
        return str(request.param)
    marker = request.node.get_closest_marker("slither_workers")
    if marker is not None and len(marker.args) == 1:
        return _checked_mode(marker.args[0])
    return str(request.config.getoption("slither_workers"))


@pytest.fixture
def slither_settings(request: pytest.FixtureRequest) -> Any:
    """The settings `slither_runtime` opens its runtime with: the test's
    ``slither_settings`` marker, else None (the defaults). Override this fixture to give a
    module or a whole suite its settings. The ``SLITHER_...`` environment variables apply
    on top, as for every runtime."""
    marker = request.node.get_closest_marker("slither_settings")
    return marker.args[0] if marker is not None else None


@pytest.fixture
async def slither_runtime(slither_settings: Any, slither_workers: str) -> AsyncIterator[sa.Runtime]:
    """A runtime opened with `slither_settings` for the test, stopped after it.

    In-process, every pool it starts (those the settings configure, and the default one on
    first use) is an `InProcessPool`: no worker process starts. With real workers, it is
    the runtime the settings describe."""
    import slither_actors as sa

    with _pools_in_process() if slither_workers == IN_PROCESS else contextlib.nullcontext():
        async with sa.open_runtime(slither_settings) as runtime:
            yield runtime


@contextlib.contextmanager
def _pools_in_process() -> Iterator[None]:
    """Every pool a runtime opened in the block starts (those its settings configure, and
    the default one on first use) is an `InProcessPool`, with the child id a runtime gives
    a pool and the same settings and store views. Runtimes opened elsewhere, and all of
    them when no test asks for it, are unchanged."""
    from slither_actors._dispatch._in_process import in_process_pool_spec
    from slither_actors.runtime import pool_spec_maker

    token = pool_spec_maker.set(in_process_pool_spec)
    try:
        yield
    finally:
        pool_spec_maker.reset(token)


PoolStarter = Callable[..., Awaitable[Any]]


@pytest.fixture
async def slither_pool(
    slither_runtime: sa.Runtime, slither_workers: str
) -> AsyncIterator[PoolStarter]:
    """``await slither_pool(module, name=None, **fields)`` starts a pool whose workers
    import ``module`` (a module or its name) and returns it; it stops after the test.

    ``fields`` are `PoolSettings` fields; the pool is named after the module unless
    ``name`` is given. Real workers find the module where this process found it (its
    folder goes on their ``PYTHONPATH``); in-process the pool is an `InProcessPool`. Its
    workers' ``call_view`` reaches the store views of `slither_runtime`. It is not one of
    the runtime's pools: to have a pipe use a pool, configure the pool in the settings.
    """
    import trio

    import slither_actors as sa
    from slither_actors._dispatch._in_process import InProcessPool

    async def run(settings: sa.PoolSettings, *, task_status: Any) -> None:
        if slither_workers == IN_PROCESS:
            task_status.started(InProcessPool(settings, slither_runtime.views.resolve))
            await trio.sleep_forever()
        else:
            async with sa.open_pool(settings) as pool:
                pool.set_view_resolver(slither_runtime.views.resolve)
                task_status.started(pool)
                await trio.sleep_forever()

    async with trio.open_nursery() as nursery:

        async def start(module: ModuleType | str, name: str | None = None, **fields: Any) -> Any:
            found = importlib.import_module(module) if isinstance(module, str) else module
            env = {**fields.pop("env", {})}
            if slither_workers == REAL:
                env["PYTHONPATH"] = _import_path(found, env.get("PYTHONPATH"))
            settings = sa.PoolSettings(
                name=name or found.__name__,
                preload=(found.__name__, *fields.pop("preload", ())),
                env=env,
                **fields,
            )
            return await nursery.start(run, settings)

        yield start
        nursery.cancel_scope.cancel()


def _import_path(module: ModuleType, given: str | None) -> str:
    """A ``PYTHONPATH`` under which a worker imports ``module`` as this process does: the
    folder its top package is in, then ``given`` or this process's own."""
    location = getattr(module, "__file__", None)
    if location is None:
        raise ValueError(f"module {module.__name__!r} has no file a worker could import")
    folder = Path(location).resolve().parent
    levels = module.__name__.count(".") + (Path(location).stem == "__init__")
    for _ in range(levels):
        folder = folder.parent
    rest = given if given is not None else os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(part for part in (str(folder), rest) if part)


ExecutorMaker = Callable[..., Any]


@pytest.fixture
async def slither_executor(slither_runtime: sa.Runtime, slither_workers: str) -> ExecutorMaker:
    """``slither_executor(module, function, pool="default")``: the executor for `dispatch`
    that runs ``module.function`` as this test's mode says, in `slither_runtime`: an
    `InProcessExecutor` in-process, a `WorkerExecutor` with real workers."""
    import slither_actors as sa

    if slither_workers == IN_PROCESS:
        return sa.InProcessExecutor
    return sa.WorkerExecutor


@pytest.fixture
def slither_telemetry() -> Iterator[Callable[..., list[Event]]]:
    """``slither_telemetry(*events)`` starts recording ``events`` (event names, such as
    ``("slither", "dispatch", "batch", "stop")``) and returns the list they go into, as
    `slither_actors.telemetry.capture` does; recording stops after the test."""
    from slither_actors import telemetry

    with contextlib.ExitStack() as stack:

        def capture(*events: EventName) -> list[Event]:
            return stack.enter_context(telemetry.capture(events))

        yield capture
