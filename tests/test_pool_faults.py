"""Faults found under fire (issue F), each with good calls running beside the bad one.

Each test here failed, or hung past its bound, before the fix it names.
"""

from __future__ import annotations

import math
import os
import signal
import struct
import sys
from collections.abc import Awaitable
from functools import partial
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio

import slither_actors as sa
from slither_actors._pool.protocol import (
    PROTOCOL_VERSION,
    Call,
    Error,
    Hello,
    Result,
    encode,
)
from tests.pool_helpers import (
    pool_settings,
    process_alive,
    raw_worker,
    wait_until,
    worker_pids,
)

BAD_SECONDS = [math.nan, 0, -1.0, True, "5", None]


async def outcome(call: Awaitable[Any]) -> Any:
    """The call's value, or the exception it raised."""
    try:
        return await call
    except sa.SlitherError as error:
        return error


# --- 1 and 6: timeouts count a call's run, and a timed-out call never wedges its worker -------


async def test_a_call_queued_behind_a_slow_one_gets_its_full_timeout_to_run() -> None:
    # Before: the second call's 0.5 s counted while it waited behind the first, so it timed
    # out without ever running, and the worker was wedged with it for every later call.
    async with sa.open_pool(pool_settings(size=1, calls_per_worker=2)) as pool:
        (pid,) = worker_pids(pool)
        results: dict[str, Any] = {}

        async def run(name: str, target: str, payloads: list[Any], **options: Any) -> None:
            results[name] = await outcome(pool.call(target, payloads, **options))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "slow", "worker_functions:sleep", [0.8])
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(partial(run, "behind", "worker_functions:double", [1], timeout=0.5))
        assert results == {"slow": [0.8], "behind": [2]}
        assert await pool.call("worker_functions:double", [2], timeout=0.5) == [4]
        assert worker_pids(pool) == [pid] and pool.stats().in_flight == 0


@pytest.mark.parametrize(
    ("calls_per_worker", "where"),
    [(1, "for a free worker"), (2, "behind the call that worker runs")],
)
async def test_a_call_that_waits_past_its_queue_timeout_fails_and_the_worker_serves_on(
    calls_per_worker: int, where: str
) -> None:
    # Queued inside the worker (2 calls per worker), the expired call stays there: before,
    # it was still marked as awaited, so nobody read that worker's pipe again.
    settings = pool_settings(size=1, calls_per_worker=calls_per_worker)
    async with sa.open_pool(settings) as pool:
        (pid,) = worker_pids(pool)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pool.call, "worker_functions:sleep", [0.6])
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(sa.CallTimeout, match=rf"waited 0.2s {where} and did not start"):
                await pool.call("worker_functions:double", [1], queue_timeout=0.2)
        # A result still due from the worker is read and dropped; the next caller is answered.
        with trio.fail_after(10):
            assert await pool.call("worker_functions:double", [3]) == [6]
        await wait_until(lambda: pool.stats().in_flight == 0)
        assert worker_pids(pool) == [pid]


async def test_a_good_call_queued_behind_a_hung_one_moves_to_the_replacement() -> None:
    async with sa.open_pool(pool_settings(size=1, calls_per_worker=2)) as pool:
        (old_pid,) = worker_pids(pool)
        results: dict[str, Any] = {}

        async def run(name: str, target: str, payloads: list[Any]) -> None:
            results[name] = await outcome(pool.call(target, payloads, timeout=0.5))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "hung", "worker_functions:sleep", [60])
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(run, "good", "worker_functions:double", [21])
        assert isinstance(results["hung"], sa.CallTimeout)
        assert results["good"] == [42]
        assert worker_pids(pool) != [old_pid]


async def test_a_frozen_worker_is_replaced_even_when_its_call_may_run_forever() -> None:
    # The heartbeat skipped busy workers, leaving them to the call's timeout: with none
    # (math.inf), a worker stopped by SIGSTOP in the middle of a call was never replaced.
    settings = pool_settings(size=1, heartbeat_interval=0.1, heartbeat_timeout=0.2)
    with sa.telemetry.capture([("slither", "worker", "crashed")]) as crashed:
        async with sa.open_pool(settings) as pool:
            (old_pid,) = worker_pids(pool)
            async with trio.open_nursery() as nursery:
                call = pool.call("worker_functions:sleep", [0.5], timeout=math.inf)
                nursery.start_soon(outcome, call)
                await trio.testing.wait_all_tasks_blocked()
                os.kill(old_pid, signal.SIGSTOP)
                await wait_until(lambda: not process_alive(old_pid))  # fails the test if not
            await wait_until(lambda: len(worker_pids(pool)) == 1)
            assert await pool.call("worker_functions:double", [1]) == [2]
    assert "was stopped by a signal for over 0.2s with a call out" in crashed[0].metadata["reason"]


# --- 2: bad timeouts fail at the call and touch nothing else -----------------------------------


@pytest.mark.parametrize("bad", BAD_SECONDS[:-1])
@pytest.mark.parametrize("argument", ["timeout", "queue_timeout"])
async def test_a_bad_timeout_is_refused_at_the_call_and_nothing_else_is_touched(
    argument: str, bad: Any
) -> None:
    async with sa.open_pool(pool_settings(size=1)) as pool:
        pids = worker_pids(pool)
        async with trio.open_nursery() as nursery:
            good: list[Any] = []

            async def good_call() -> None:
                good.append(await pool.call("worker_functions:sleep", [0.3]))

            nursery.start_soon(good_call)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(ValueError, match=rf"{argument} must be a number of seconds"):
                await pool.call("worker_functions:double", [1], **{argument: bad})
            if argument == "timeout":
                with pytest.raises(ValueError, match=r"timeout must be a number of seconds"):
                    await pool.broadcast("worker_functions:double", 1, timeout=bad)
        assert good == [[0.3]]
        assert worker_pids(pool) == pids and not pool.closed


async def test_payloads_that_are_not_a_list_are_refused_at_the_call() -> None:
    async with sa.open_pool(pool_settings(size=1)) as pool:
        for bad in ("abc", b"abc", {"a": 1}, 5):
            with pytest.raises(ValueError, match=r"payloads must be a list of payloads"):
                await pool.call("worker_functions:echo", bad)
        assert await pool.call("worker_functions:echo", (1, 2)) == [1, 2]


# --- 3: a session id that is not a str -----------------------------------------------------------


@pytest.mark.parametrize("bad", [123, b"session", ["s"], ""])
async def test_a_session_id_that_is_not_a_str_is_refused_before_anything_is_written(
    bad: Any,
) -> None:
    async with sa.open_pool(pool_settings(size=2)) as pool:
        pids = worker_pids(pool)
        with pytest.raises(ValueError, match=r"session_id must"):
            await pool.call("worker_functions:double", [1], session_id=bad)
        assert await pool.call("worker_functions:double", [2], session_id="fine") == [4]
        assert worker_pids(pool) == pids and pool.stats().in_flight == 0


async def test_a_worker_answers_a_malformed_call_with_an_error_for_that_call_alone() -> None:
    async with raw_worker(pool_settings()) as worker:
        with trio.fail_after(10):
            assert isinstance(await worker.next_message(), Hello)
            bad = msgpack.packb([Call.KIND, 7, "worker_functions:double", False, [1], 123])
            worker.write(struct.pack(">I", len(bad)) + bad)
            worker.write(encode(Call(8, "worker_functions:double", False, [5])))
            error = await worker.next_message()
            assert isinstance(error, Error) and error.call_id == 7
            assert error.type_name == "RemoteProtocolError"
            assert "malformed Call message" in error.message
            assert await worker.next_message() == Result(8, [10])
            assert worker.process.process.returncode is None


# --- 4: SystemExit and KeyboardInterrupt in user code --------------------------------------------


@pytest.mark.parametrize(
    ("target", "remote_type"),
    [
        ("worker_functions:quit_worker", "SystemExit"),
        ("worker_functions:interrupt", "KeyboardInterrupt"),
    ],
)
async def test_system_exit_in_a_worker_function_fails_its_call_and_the_worker_lives_on(
    target: str, remote_type: str
) -> None:
    async with sa.open_pool(pool_settings(size=1)) as pool:
        pids = worker_pids(pool)
        with pytest.raises(sa.WorkerError) as caught:
            await pool.call(target, [3])
        assert caught.value.remote_type == remote_type
        assert await pool.call("worker_functions:double", [1]) == [2]
        assert worker_pids(pool) == pids


# --- 5: the protocol version in the hello ---------------------------------------------------------


def fake_python(tmp_path: Path, body: str) -> str:
    """An executable standing in for the workers' python: it writes ``body``'s frames to the
    pipe given in ``--fds`` (as a real worker would), then waits to be stopped."""
    script = tmp_path / "fake_python"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, struct, sys, time, msgpack\n"
        "fds = sys.argv[sys.argv.index('--fds') + 1].split(',')\n"
        "out = int(fds[1])\n"
        "def send(message):\n"
        "    body = msgpack.packb(message)\n"
        "    os.write(out, struct.pack('>I', len(body)) + body)\n"
        f"{body}\n"
        "time.sleep(60)\n"
    )
    script.chmod(0o755)
    return str(script)


async def test_a_worker_speaking_another_protocol_version_fails_the_start(
    tmp_path: Path,
) -> None:
    python = fake_python(tmp_path, f"send([{Hello.KIND}, os.getpid(), 99])")
    with pytest.raises(sa.WorkerStartFailed) as caught:
        async with sa.open_pool(pool_settings(size=1, python=python)):
            pass  # pragma: no cover - never reached
    assert f"protocol version 99; this parent speaks version {PROTOCOL_VERSION}" in str(
        caught.value
    )


# --- 7: stopping takes as long as the workers need, not a fixed grace ----------------------------


async def test_a_supervised_child_that_reported_its_pool_stops_when_the_pool_has_stopped() -> None:
    # This waited out the child's whole shutdown time before (shielded, so past the test's
    # bound): the child only sleeps once it has reported its pool, and the supervisor
    # waited for the child alone.
    async def pool_child(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        async with sa.open_pool(pool_settings(size=2)) as pool:
            task_status.started(pool)
            await trio.sleep_forever()

    supervisor = sa.Supervisor([sa.ChildSpec("pool", pool_child, shutdown=20)])
    async with trio.open_nursery() as nursery:
        ref: sa.SupervisorRef = await nursery.start(supervisor.start)
        (child,) = ref.which_children()
        pids = worker_pids(child.value)
        with trio.fail_after(10):
            await ref.stop()
    assert len(pids) == 2 and not any(map(process_alive, pids))


async def test_cancelling_a_pool_whose_workers_still_import_does_not_wait_for_the_import(
    tmp_path: Path,
) -> None:
    # Before, the workers were sent a stop frame they could read only after the import,
    # then given stop_grace: about 20 s here.
    (tmp_path / "slow_import.py").write_text("import time\ntime.sleep(15)\n")
    settings = pool_settings(
        size=2, cwd=str(tmp_path), preload=("slow_import",), stop_grace=5.0, kill_grace=5.0
    )
    with sa.telemetry.capture([("slither", "worker", "spawned")]) as events, trio.fail_after(10):
        with trio.move_on_after(0.3):
            async with sa.open_pool(settings):
                pass  # pragma: no cover - never reached
    pids = [event.metadata["pid"] for event in events]
    assert len(pids) == 2 and not any(map(process_alive, pids))
