"""How pools start, fail to start, give up, and end: never leaving a process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

import slither_actors as sa
from tests.pool_helpers import TESTS, pool_settings, process_alive, wait_until, worker_pids


async def test_a_pool_is_ready_when_every_worker_has_said_hello() -> None:
    with sa.telemetry.capture([("slither", "worker", "ready")]) as ready:
        async with sa.open_pool(pool_settings(size=3)) as pool:
            assert len(ready) == 3
            assert pool.stats() == sa.PoolStats("default", 3, 3, 0, 0, 0)
    assert sorted(event.metadata["worker_id"] for event in ready) == [1, 2, 3]
    assert all(event.measurements["startup_time"] > 0 for event in ready)


async def test_a_preload_that_fails_to_import_fails_the_pool_start_with_its_error() -> None:
    with pytest.raises(sa.WorkerStartFailed) as caught:
        async with sa.open_pool(pool_settings(preload=("worker_functions", "no_such_module"))):
            pass  # pragma: no cover - never reached
    message = str(caught.value)
    # It exits by itself once it has said why: the error tells that exit, not a signal.
    assert (
        "preload of 'no_such_module' failed: No module named 'no_such_module'; "
        "it exited with code 1"
    ) in message
    assert "ModuleNotFoundError" in caught.value.details  # the worker's traceback


async def test_an_interpreter_that_cannot_run_fails_the_start() -> None:
    with pytest.raises(sa.WorkerStartFailed, match=r"could not run '/nonexistent/python'"):
        async with sa.open_pool(pool_settings(python="/nonexistent/python")):
            pass  # pragma: no cover - never reached


async def test_a_worker_that_never_says_hello_fails_the_start(tmp_path: Path) -> None:
    (tmp_path / "slow_import.py").write_text("import time\ntime.sleep(30)\n")
    settings = pool_settings(
        size=1, cwd=str(tmp_path), preload=("slow_import",), startup_timeout=0.5
    )
    with pytest.raises(sa.WorkerStartFailed, match=r"did not say hello within 0.5s"):
        async with sa.open_pool(settings):
            pass  # pragma: no cover - never reached


async def test_workers_that_keep_dying_make_the_pool_give_up() -> None:
    with pytest.raises(sa.SupervisorExhausted, match=r"'pool default'.*worker exited with code 3"):
        async with sa.open_pool(pool_settings(size=1, max_restarts=1)) as pool:
            for _ in range(2):
                with pytest.raises(sa.WorkerCrashed):
                    await pool.call("worker_functions:exit_now", [1])
                await wait_until(lambda: len(worker_pids(pool)) == 1)


async def test_no_worker_outlives_a_cancelled_pool() -> None:
    pids: list[int] = []
    with trio.CancelScope() as scope:
        async with sa.open_pool(pool_settings(size=2)) as pool:
            pids = worker_pids(pool)
            scope.cancel()
            await trio.sleep_forever()
    assert len(pids) == 2 and not any(map(process_alive, pids))


async def test_no_worker_outlives_a_runtime_that_raised() -> None:
    pids: list[int] = []
    settings = sa.Settings(pools=(pool_settings(name="cpu"),))
    with pytest.raises(KeyError):
        async with sa.open_runtime(settings) as runtime:
            pids = worker_pids(await runtime.pool("cpu"))
            raise KeyError("boom")
    assert len(pids) == 2 and not any(map(process_alive, pids))


async def test_in_flight_calls_fail_with_pool_closed_when_the_pool_stops() -> None:
    async with sa.open_pool(pool_settings(size=1)) as pool:
        async with trio.open_nursery() as nursery:
            outcome: list[BaseException] = []

            async def slow() -> None:
                try:
                    await pool.call("worker_functions:sleep", [5])
                except sa.SlitherError as error:
                    outcome.append(error)

            nursery.start_soon(slow)
            await trio.testing.wait_all_tasks_blocked()
            await pool.stop()
        with pytest.raises(sa.PoolClosed):
            await pool.call("worker_functions:double", [1])
    assert [type(error) for error in outcome] == [sa.PoolClosed]


async def test_configured_pools_start_with_the_runtime_and_default_starts_on_first_use() -> None:
    settings = sa.Settings(pools=(pool_settings(name="cpu", size=1),))
    async with sa.open_runtime(settings) as runtime:
        ids = [child.id for child in child_value(runtime.root, "pools").which_children()]
        assert ids == ["pool cpu"]
        cpu = await runtime.pool("cpu")
        assert await cpu.call("worker_functions:double", [2]) == [4]
        default = await runtime.pool()
        assert default.settings.worker_count == (os.cpu_count() or 1)
        assert await runtime.pool("default") is default
        with pytest.raises(LookupError, match=r"no pool named 'gpu' \(configured: cpu\)"):
            await runtime.pool("gpu")


def child_value(supervisor: sa.SupervisorRef, child_id: str) -> sa.SupervisorRef:
    (value,) = [child.value for child in supervisor.which_children() if child.id == child_id]
    return value  # type: ignore[no-any-return]


ORPHAN_SCRIPT = textwrap.dedent(
    """
    import sys, trio
    import slither_actors as sa

    async def main(runtime):
        pool = await runtime.pool("cpu")
        print(*[worker.pid for worker in pool.workers()], flush=True)
        await pool.call("worker_functions:sleep", [60])

    settings = sa.Settings(pools=[sa.PoolSettings(
        name="cpu", size=2, cwd=sys.argv[1], preload=("worker_functions",))])
    sa.run(main, settings=settings)
    """
)


@pytest.mark.parametrize("parent_signal", [signal.SIGKILL, signal.SIGINT])
async def test_no_worker_outlives_its_parent_process(tmp_path: Path, parent_signal: int) -> None:
    """SIGKILL gives the parent no chance to clean up: the workers' lifeline ends them.
    SIGINT (Ctrl-C) runs the runtime's shutdown. Either way /proc shows no worker left."""
    script = tmp_path / "app.py"
    script.write_text(ORPHAN_SCRIPT)
    parent = await trio.lowlevel.open_process(
        [sys.executable, str(script), str(TESTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert parent.stdout is not None
        output = b""
        with trio.fail_after(30):
            while not output.endswith(b"\n"):
                output += await parent.stdout.receive_some()
        pids = [int(pid) for pid in output.split()]
        assert len(pids) == 2 and all(map(process_alive, pids))
        parent.send_signal(parent_signal)
        await wait_until(lambda: not any(map(process_alive, pids)))
        with trio.fail_after(10):
            await parent.wait()
    finally:
        parent.kill()
        await parent.wait()
