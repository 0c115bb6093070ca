"""How chaos/bad_inputs.py throws its bad inputs: a `Scene` to throw them at, and makers
of *throws*, coroutine functions that take the scene and misbehave in one way each.

The table of cases, with what each must give, is in chaos/bad_input_cases.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio
from _common import pool_settings
from session_store import SessionStore

import slither_actors as sa

MAX_FRAME = 2**20  # the pool's frame limit: small, so an oversize payload is cheap to make
DOUBLE = sa.WorkerExecutor("worker_functions", "double")
NAN = float("nan")


@attrs.define
class Scene:
    """What a case throws its input at: a runtime, its default pool, the run's marker and
    the fake interpreter that runs chaos/fake_worker.py."""

    runtime: sa.Runtime
    pool: sa.WorkerPool
    marker: str
    fake_python: str


Throw = Callable[[Scene], Awaitable[Any]]


def pool_call(target: Any, payloads: Any, **options: Any) -> Throw:
    """A throw that calls the scene's pool."""

    async def throw(scene: Scene) -> Any:
        """Call the pool."""
        return await scene.pool.call(target, payloads, **options)

    return throw


def plain(function: Callable[[], Any]) -> Throw:
    """A throw that calls a plain function (settings, definitions)."""

    async def throw(scene: Scene) -> Any:
        """Call the function."""
        return function()

    return throw


def dispatched(items: list[Any], **options: Any) -> Throw:
    """A throw that dispatches ``items`` to the `DOUBLE` executor."""

    async def throw(scene: Scene) -> Any:
        """Dispatch the items."""
        return await sa.dispatch(items, executor=DOUBLE, **options)

    return throw


def fake_pool(mode: str) -> Throw:
    """A throw that opens a pool of one fake worker (chaos/fake_worker.py) and calls it."""

    async def throw(scene: Scene) -> Any:
        """Open the fake pool and call it."""
        settings = pool_settings(
            scene.marker,
            name=f"fake {mode}",
            size=1,
            python=scene.fake_python,
            preload=(),
            startup_timeout=1.0,
            stop_grace=0.2,
            kill_grace=0.2,
            env={"CHAOS_FAKE_MODE": mode},
        )
        async with sa.open_pool(settings) as pool:
            return await pool.call("worker_functions:double", [1, 2])

    return throw


async def scribble_and_listen(scene: Scene) -> tuple[Any, bool]:
    """Call `scribble`; its results, and whether its garbage reached the worker log."""
    seen = trio.Event()

    class Listener(logging.Handler):
        """Sets ``seen`` when the garbage reaches the log."""

        def emit(self, record: logging.LogRecord) -> None:
            """Look at one log record."""
            if "binary" in record.getMessage():
                seen.set()

    logger = logging.getLogger("slither_actors.worker")
    listener = Listener()
    logger.addHandler(listener)
    previous, logger.level = logger.level, logging.INFO
    try:
        results = await scene.pool.call("worker_functions:scribble", [1, 2])
        with trio.move_on_after(2.0):
            await seen.wait()
    finally:
        logger.removeHandler(listener)
        logger.setLevel(previous)
    return results, seen.is_set()


def read_view(*, owner: str, caller: str | None, view: str = "secret") -> Throw:
    """A throw whose worker reads ``view`` for ``caller`` while ``owner`` has the store's
    session views (after checking that the owner itself can read it)."""
    question = [{"view": view, "params": {"key": "door"}}]

    async def throw(scene: Scene) -> Any:
        """Read the view as ``caller`` after the owner did."""
        store = scene.runtime.store(SessionStore)
        with scene.runtime.views.session(owner, [store]):
            own = await scene.pool.call("worker_functions:read_view", question, session_id=owner)
            if view == "secret" and own != ["open sesame"]:
                raise AssertionError(f"the owner's own session read {own!r}")
            return await scene.pool.call("worker_functions:read_view", question, session_id=caller)

    return throw


class Echo(sa.Actor):
    """Answers a call with its message."""

    async def handle_call(self, message: Any) -> Any:
        """The message itself."""
        return message


def dead_actor(how: str) -> Throw:
    """A throw that calls or casts to an actor that has stopped."""

    async def throw(scene: Scene) -> Any:
        """Start an actor, stop it, then reach for it."""
        async with trio.open_nursery() as nursery:
            ref = await nursery.start(sa.run_actor, Echo())
            await ref.stop()
        return await (ref.call("hello") if how == "call" else ref.cast("hello"))

    return throw


async def start_a_pool_with_an_int_in_env(scene: Scene) -> Any:
    """Open a pool whose ``env`` has an int value (its settings made in code, not a dict)."""
    settings = pool_settings(scene.marker, name="int in env", size=1, env={"CHAOS_NUMBER": 1})
    async with sa.open_pool(settings) as pool:
        return await pool.call("worker_functions:double", [1])


async def call_a_stopped_pool(scene: Scene) -> Any:
    """Open a pool, leave its block, then call it."""
    async with sa.open_pool(pool_settings(scene.marker, name="stopped", size=1)) as pool:
        pass
    return await pool.call("worker_functions:double", [1])


def pipe_routing_to(destination: str, *, in_router: bool, policy: Any = "skip") -> Throw:
    """A throw that declares a pipe routing to ``destination`` (an output it does not
    declare), from a router or, at run time, from a handler, and runs it."""

    async def throw(scene: Scene) -> Any:
        """Declare the pipe and run it."""
        if in_router:
            stage: Any = sa.RouterStage("route", [(lambda item: True, destination)])
        else:
            stage = sa.LocalStage(
                "astray",
                lambda item, ctx: sa.RouteTo(destination) if item.payload == 2 else item.payload,
            )

        class Astray(sa.Pipe):
            """A pipe that sends an item where it has no way to go."""

            stages = [stage]
            on_error = {"*": policy}

        return await sa.run_pipe(Astray, [1, 2, 3])

    return throw


def one_astray_item(result: Any) -> bool:
    """Items 1 and 3 delivered; item 2 in an error record naming where it was sent."""
    return (
        result.payloads() == [1, 3]
        and len(result.errors) == 1
        and "ghost" in result.errors[0].reason
    )


def broadcast_with(**options: Any) -> Throw:
    """A throw that broadcasts `double` to the scene's pool."""
    return lambda scene: scene.pool.broadcast("worker_functions:double", 1, **options)


def dispatch_in_session(session_id: Any) -> Throw:
    """A throw that dispatches in a context with ``session_id``."""
    return lambda scene: sa.dispatch(
        [1], executor=DOUBLE, context=sa.Context.new(session_id=session_id)
    )
