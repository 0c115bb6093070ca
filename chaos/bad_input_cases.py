"""The bad inputs chaos/bad_inputs.py throws, each with the one clear outcome it must have.

A `Case` names a bad input, throws it at a `Scene` (a runtime and its pool, on which good
calls run meanwhile; see chaos/bad_input_throws.py) and says what must come of it: an
exception of one of the ``expected`` types whose message names every one of ``words``, or
(``expected`` None) a value that ``check`` accepts. ``survives`` says whether the worker
that met it must live on. ``fault`` is the issue's number for a fault the case is known to
catch (issue 12).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs
from bad_input_throws import (
    MAX_FRAME,
    NAN,
    Throw,
    broadcast_with,
    call_a_stopped_pool,
    dead_actor,
    dispatch_in_session,
    dispatched,
    fake_pool,
    one_astray_item,
    pipe_routing_to,
    plain,
    pool_call,
    read_view,
    scribble_and_listen,
    start_a_pool_with_an_int_in_env,
)

import slither_actors as sa


@attrs.frozen
class Case:
    """One bad input and the one clear outcome it must have."""

    name: str
    throw: Throw
    expected: tuple[type[BaseException], ...] | None
    words: tuple[str, ...] = ()
    check: Callable[[Any], bool] = lambda value: True
    survives: bool = True
    fault: int | None = None


def expect(
    name: str,
    throw: Throw,
    errors: type[BaseException] | tuple[type[BaseException], ...],
    *words: str,
    survives: bool = True,
    fault: int | None = None,
) -> Case:
    """A case whose input must raise one of ``errors``, its message naming ``words``."""
    expected = errors if isinstance(errors, tuple) else (errors,)
    return Case(name, throw, expected, words, survives=survives, fault=fault)


def succeed(name: str, throw: Throw, check: Callable[[Any], bool]) -> Case:
    """A case whose input must be taken in its stride: a value ``check`` accepts."""
    return Case(name, throw, None, check=check)


def call(function: str, payloads: Any, **options: Any) -> Throw:
    """`pool_call` of a function of chaos/worker_functions.py."""
    return pool_call(f"worker_functions:{function}", payloads, **options)


W, P, V = sa.WorkerError, sa.PayloadError, ValueError
ARGUMENT = (ValueError, TypeError)  # a bad argument, refused where it is passed
SETTINGS_DICT = sa.Settings.from_dict


CASES = [
    # What worker code does wrong.
    expect("an unknown module", pool_call("chaos_no_such_module:f", [1]), W, "chaos_no_such_"),
    expect("an unknown function", call("no_such_function", [1]), W, "no_such_function"),
    expect("a module that fails on import", pool_call("broken_import:f", [1]), W, "on import"),
    expect("an unknown tool", pool_call(sa.Tool("no_such_tool"), [1]), W, "no_such_tool"),
    expect("a result of the wrong length", call("drop_last", [1, 2]), W, "1 results", "of 2"),
    expect("a result that is not a list", call("as_tuple", [1]), W, "tuple"),
    expect("a result that cannot travel", call("set_result", [1]), W, "result 0", "set"),
    expect("a result over max_frame", call("inflate", [MAX_FRAME]), W, "exceeds"),
    expect("a plain exception", call("raise_value_error", [1]), W, "ValueError"),
    expect("SystemExit in a function", call("raise_system_exit", [1]), W, "SystemExit", fault=4),
    expect(
        "KeyboardInterrupt in a function",
        call("raise_keyboard_interrupt", [1]),
        W,
        "KeyboardInterrupt",
        fault=4,
    ),
    expect(
        "a process that exits under the call",
        call("exit_process", [1]),
        sa.WorkerCrashed,
        "exited with code 3",
        survives=False,
    ),
    succeed("binary garbage on fd 1 and 2", scribble_and_listen, lambda got: got == ([2, 4], True)),
    # What the caller passes wrong.
    expect("a target without a colon", pool_call("no_colon_here", [1]), V, "no_colon_here"),
    expect("a target that is not a str", pool_call(42, [1]), V, "42"),
    expect("payloads that are an int", call("double", 5), ARGUMENT, "payloads"),
    expect("payloads that are a str", call("double", "abc"), ARGUMENT, "payloads"),
    expect("a payload that is a set", call("double", [{1, 2}]), P, "set"),
    expect("a datetime without a timezone", call("double", [datetime(2024, 1, 1)]), P, "timezone"),
    expect("an int over 64 bits", call("double", [2**70]), P, "64 bits"),
    expect("a payload over max_frame", call("double", [b"x" * MAX_FRAME]), P, "exceeds"),
    expect("timeout=nan", call("double", [1], timeout=NAN), ARGUMENT, "timeout", fault=2),
    expect("timeout=0", call("double", [1], timeout=0), ARGUMENT, "timeout", fault=2),
    expect("timeout=-1", call("double", [1], timeout=-1), ARGUMENT, "timeout", fault=2),
    expect("timeout=True", call("double", [1], timeout=True), ARGUMENT, "timeout"),
    expect("queue_timeout=nan", call("double", [1], queue_timeout=NAN), V, "queue_timeout"),
    expect("broadcast timeout=nan", broadcast_with(timeout=NAN), ARGUMENT, "timeout", fault=2),
    expect("session_id=123", call("double", [1], session_id=123), ARGUMENT, "session_id", fault=3),
    expect(
        "session_id=b'abc'",
        call("double", [1], session_id=b"abc"),
        ARGUMENT,
        "session_id",
        fault=3,
    ),
    expect("dispatch timeout=nan", dispatched([1, 2], timeout=NAN), ARGUMENT, "timeout"),
    expect("dispatch timeout=0", dispatched([1, 2], timeout=0), ARGUMENT, "timeout"),
    expect("dispatch, an int session", dispatch_in_session(123), ARGUMENT, "session_id", fault=3),
    expect("dispatch max_in_flight=0", dispatched([1], max_in_flight=0), ARGUMENT, "max_in_flight"),
    expect("dispatch batch_size=0", dispatched([1], batch_size=0), ARGUMENT, "batch_size"),
    expect(
        "dispatch with a strategy and a batch_size",
        dispatched([1], strategy=sa.FixedBatch(2), batch_size=2),
        ARGUMENT,
        "strategy",
        "batch_size",
    ),
    expect(
        "a worker stage with timeout=nan",
        plain(lambda: sa.WorkerStage("w", module="m", function="f", timeout=NAN)),
        ARGUMENT,
        "timeout",
        fault=2,
    ),
    expect(
        "an unknown pool", lambda scene: scene.runtime.pool("no_such_pool"), LookupError, "no_such"
    ),
    # Settings.
    expect("PoolSettings(size=0)", plain(lambda: sa.PoolSettings(size=0)), V, "size"),
    expect(
        "PoolSettings(call_timeout=nan)",
        plain(lambda: sa.PoolSettings(call_timeout=NAN)),
        V,
        "call_timeout",
    ),
    expect(
        "PoolSettings(queue_timeout=-1)",
        plain(lambda: sa.PoolSettings(queue_timeout=-1)),
        V,
        "queue_timeout",
    ),
    expect(
        "settings with a str size",
        plain(lambda: SETTINGS_DICT({"pools": [{"size": "4"}]})),
        sa.ConfigError,
        "size",
        "str",
    ),
    expect(
        "settings with an unknown key",
        plain(lambda: SETTINGS_DICT({"dispatch": {"batchsize": 3}})),
        sa.ConfigError,
        "batchsize",
    ),
    expect(
        "settings with a NaN heartbeat",
        plain(lambda: SETTINGS_DICT({"pools": [{"heartbeat_timeout": NAN}]})),
        sa.ConfigError,
        "heartbeat_timeout",
    ),
    expect(
        "PoolSettings(env={'CHAOS_NUMBER': 1})",
        start_a_pool_with_an_int_in_env,
        (ValueError, sa.WorkerStartFailed),
        "env",
    ),
    # Pipes.
    expect(
        "on_error to an undeclared output",
        pipe_routing_to("ghost", in_router=False, policy=sa.ToOutput("ghost")),
        sa.PipeDefinitionError,
        "ghost",
    ),
    expect(
        "a router to an undeclared output",
        pipe_routing_to("ghost", in_router=True),
        sa.PipeDefinitionError,
        "ghost",
    ),
    succeed(
        "a handler routing to an undeclared output",
        pipe_routing_to("ghost", in_router=False),
        one_astray_item,
    ),
    # Views, actors and pools that are not there for the caller.
    expect(
        "a view of another session",
        read_view(owner="chaos-owner", caller="chaos-stranger"),
        W,
        "another session",
    ),
    expect(
        "a session view without a session",
        read_view(owner="chaos-owner", caller=None),
        W,
        "another session",
    ),
    expect(
        "an unknown view",
        read_view(owner="chaos-owner", caller="chaos-owner", view="no_such_view"),
        W,
        "no_such_view",
    ),
    expect("a call to a stopped actor", dead_actor("call"), sa.ActorExited, "exited"),
    expect("a cast to a stopped actor", dead_actor("cast"), sa.ActorExited, "exited"),
    expect("a call to a stopped pool", call_a_stopped_pool, sa.PoolClosed, "closed"),
    # Children that speak the protocol badly.
    expect(
        "garbage for a hello",
        fake_pool("garbage_hello"),
        sa.WorkerStartFailed,
        "broke the protocol",
    ),
    expect(
        "a hello of protocol version 99",
        fake_pool("hello_99"),
        sa.WorkerStartFailed,
        "99",
        "version",
        fault=5,
    ),
    expect("no hello at all", fake_pool("silent"), sa.WorkerStartFailed, "hello"),
    expect("garbage after a hello", fake_pool("garbage_after_call"), sa.WorkerCrashed, "malformed"),
    expect(
        "a result for a call never made",
        fake_pool("stray_result"),
        sa.WorkerCrashed,
        "not in flight",
    ),
]
