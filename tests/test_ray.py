"""Pools of Ray actors (``backend = "ray"``), against a real local Ray.

One Ray serves the whole module (it takes seconds to start): the module's fixture starts it,
so the pools join it and leave it running, and stops it at the end. The first test, which
checks that a runtime leaves no Ray process behind, runs in a process of its own before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

import slither_actors as sa

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

ROOT = Path(__file__).resolve().parent.parent
TESTS = str(ROOT / "tests")
SETTINGS = {"pools": [{"name": "ray", "backend": "ray", "size": 2, "cwd": TESTS}]}


def ray_processes() -> set[int]:
    """The pids of the Ray daemons running on this machine."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"raylet" in command or b"gcs_server" in command:
                found.add(int(entry.name))
    return found


def test_a_runtime_that_started_ray_leaves_no_ray_process() -> None:
    before = ray_processes()
    program = textwrap.dedent(
        f"""
        import sys, trio, ray, slither_actors as sa

        async def main():
            async with sa.open_runtime({SETTINGS!r}) as runtime:
                pool = await runtime.pool("ray")
                print(await pool.call("worker_functions:double", [1, 2]), flush=True)

        trio.run(main)
        print("left the runtime; connected:", ray.is_initialized(), flush=True)
        sys.stdin.read()  # stays alive (Ray's own exit handler not run) until told
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", program],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "[2, 4]"
        assert process.stdout.readline().strip() == "left the runtime; connected: False"
        # Ray has shut down while its program still runs: the pool's child did it.
        assert ray_processes() <= before
    finally:
        process.communicate(input="", timeout=60)
    assert process.returncode == 0, process.stderr


@contextlib.contextmanager
def calls_started(count: int = 1) -> Iterator[trio.Event]:
    """An event set once ``count`` pool calls have begun. A call to an idle actor is out to
    it by the time a task woken by the event runs: nothing awaits between the two."""
    started = trio.Event()
    seen: list[object] = []

    def on_start(event: object, measured: object, metadata: object, _: object) -> None:
        seen.append(metadata)
        if len(seen) >= count:
            started.set()

    handler_id = f"test-ray-started-{id(started)}"
    sa.telemetry.attach(handler_id, [("slither", "pool", "call", "start")], on_start)
    try:
        yield started
    finally:
        sa.telemetry.detach(handler_id)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


pytestmark = pytest.mark.usefixtures("local_ray")


class Doubling(sa.Pipe):
    stages = [
        sa.LocalStage("parse", lambda item, ctx: int(item.payload)),
        sa.WorkerStage("double", module="worker_functions", function="double", pool="ray"),
    ]


async def test_dispatch_and_a_worker_stage_run_on_ray_actors_as_on_a_local_pool() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        executor = sa.WorkerExecutor("worker_functions", "double", pool="ray")
        results = await sa.dispatch(range(500), executor=executor, batch_size=16)
        assert [item.payload for item in results] == [2 * number for number in range(500)]
        result = await sa.run_pipe(Doubling, [str(number) for number in range(100)])
        assert result.payloads() == [2 * number for number in range(100)]
        pool = await runtime.pool("ray")
        # What travels is what a local pool carries: a tuple stays a tuple, bytes bytes.
        carried = await pool.call("worker_functions:echo", [(1, "a"), b"\x00"])
        assert carried == [(1, "a"), b"\x00"]
        assert {worker.worker_id for worker in pool.workers()} == {1, 2}
        assert sum(worker.calls_done for worker in pool.workers()) >= 500 // 16


async def test_errors_are_those_of_a_local_pool() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        pool = await runtime.pool("ray")
        with pytest.raises(sa.WorkerError, match="ValueError") as raised:
            await pool.call("worker_functions:fail", [1])
        assert raised.value.remote_type == "ValueError"
        with pytest.raises(sa.WorkerError, match="ResultError"):
            await pool.call("worker_functions:short", [1, 2, 3])
        with pytest.raises(sa.PayloadError):
            await pool.call("worker_functions:echo", [object()])
        executor = sa.WorkerExecutor("worker_functions", "picky", pool="ray")
        results = await sa.dispatch(
            [1, 2, "bad", 4], executor=executor, batch_size=1, on_error="skip"
        )
        assert [item.meta.get("skipped", False) for item in results] == [False, False, True, False]


async def test_a_call_past_its_timeout_fails_and_its_actor_is_replaced() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        pool = await runtime.pool("ray")
        with pytest.raises(sa.CallTimeout):
            await pool.call("worker_functions:sleep", [30.0], timeout=0.5)
        (replaced,) = [worker for worker in pool.workers() if worker.restarts]
        assert "ran over 0.5s" in (replaced.last_exit or "")
        assert await pool.call("worker_functions:double", [21]) == [42]


async def test_an_actor_killed_mid_batch_is_replaced_and_the_batch_retried() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        pool = await runtime.pool("ray")
        killed: list[int] = []

        async def kill_once_out(started: trio.Event) -> None:
            await started.wait()
            busy = [worker for worker in pool.workers() if worker.in_flight]
            killed.append(busy[0].pid)
            os.kill(busy[0].pid, signal.SIGKILL)

        executor = sa.WorkerExecutor("worker_functions", "pid_after", pool="ray")
        with calls_started() as started:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(kill_once_out, started)
                results = await sa.dispatch(
                    [2.0], executor=executor, batch_size=1, on_error=sa.Retry(max_attempts=2)
                )
        (item,) = results
        assert item.payload != killed[0] and item.meta.get("attempts", 2) == 2
        crashed = [worker for worker in pool.workers() if worker.restarts]
        assert crashed and "died" in (crashed[0].last_exit or "")



def ray_settings(**fields: object) -> dict[str, object]:
    return {"pools": [{"name": "ray", "backend": "ray", "size": 2, "cwd": TESTS, **fields}]}


async def test_hint_affinity_keeps_a_session_on_its_actor_and_rebinds_when_it_dies() -> None:
    async with sa.open_runtime(ray_settings(calls_per_worker=1)) as runtime:
        pool = await runtime.pool("ray")
        first = await pool.call("worker_functions:pid_after", [0.0], session_id="s1")
        for _ in range(5):
            assert await pool.call("worker_functions:pid_after", [0.0], session_id="s1") == first
        with sa.telemetry.capture([("slither", "session", "affinity", "broken")]) as broken:
            os.kill(first[0], signal.SIGKILL)
            with pytest.raises(sa.WorkerCrashed):  # the call that finds its actor dead
                await pool.call("worker_functions:pid_after", [0.5], session_id="s1")
            moved = await pool.call("worker_functions:pid_after", [0.0], session_id="s1")
        assert moved != first
        (event,) = broken
        assert event.metadata["session_id"] == "s1" and event.metadata["reason"] == "worker exited"


async def test_strict_affinity_raises_session_lost_once_the_actor_is_gone() -> None:
    settings = ray_settings(affinity="strict", max_sessions=2)
    async with sa.open_runtime(settings) as runtime:
        pool = await runtime.pool("ray")
        (pid,) = await pool.call("worker_functions:pid_after", [0.0], session_id="s1")
        await pool.call("worker_functions:pid_after", [0.0], session_id="s2")
        with pytest.raises(sa.TooManySessions):
            await pool.call("worker_functions:pid_after", [0.0], session_id="s3")
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(sa.WorkerCrashed):
            await pool.call("worker_functions:pid_after", [0.5], session_id="s1")
        with pytest.raises(sa.SessionLost):
            await pool.call("worker_functions:pid_after", [0.0], session_id="s1")
        pool.end_session("s1")
        assert await pool.call("worker_functions:double", [2], session_id="s1") == [4]


async def test_a_view_called_in_a_ray_actor_fails_saying_why() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        pool = await runtime.pool("ray")
        (answer,) = await pool.call("worker_functions:ask", [{"view": "lookup_feature"}])
        assert answer["error"] == "NotSupported"
        assert "not reachable from a Ray actor" in answer["message"]


async def test_telemetry_and_the_status_see_a_ray_pool_as_a_pool() -> None:
    from slither_actors._status import take_snapshot

    async with sa.open_runtime(SETTINGS) as runtime:
        pool = await runtime.pool("ray")
        with sa.telemetry.capture([("slither", "pool", "call", "stop")]) as calls:
            await pool.call("worker_functions:double", [1, 2], session_id="s")
        (call,) = calls
        assert call.metadata["pool"] == "ray" and call.metadata["size"] == 2
        assert call.metadata["worker_id"] in (1, 2)
        (status,) = take_snapshot(runtime)["pools"]
        assert status["name"] == "ray" and status["live"] == 2 and status["sessions"] == 1
        assert {worker["pid"] for worker in status["workers"]} == {
            worker.pid for worker in pool.workers()
        }
        with pytest.raises(ValueError, match="timeout"):
            await pool.call("worker_functions:double", [1], timeout=-1)
        with pytest.raises(ValueError, match="session_id"):
            await pool.call("worker_functions:double", [1], session_id="")


async def test_a_dead_actor_is_seen_and_replaced_before_any_call_reaches_it() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        pool = await runtime.pool("ray")
        victim = pool.workers()[0]
        exited, ready = trio.Event(), trio.Event()

        def on_event(event: tuple[str, ...], measured: object, metadata: dict, _: object) -> None:
            if event[-1] == "exited" and metadata["pid"] == victim.pid:
                exited.set()
            elif event[-1] == "ready" and metadata["worker_id"] == victim.worker_id:
                ready.set()

        events = [("slither", "worker", "exited"), ("slither", "worker", "ready")]
        sa.telemetry.attach("test-ray-exit", events, on_event)
        try:
            os.kill(victim.pid, signal.SIGKILL)
            with trio.fail_after(20):
                await exited.wait()  # seen with no call sent to it
                await ready.wait()  # and its replacement has answered
        finally:
            sa.telemetry.detach("test-ray-exit")
        replaced = pool.workers()[0]
        assert replaced.restarts == 1 and replaced.pid != victim.pid
        assert "died" in (replaced.last_exit or "")
        assert await pool.call("worker_functions:double", [5]) == [10]


def test_a_demo_runs_on_ray_actors_with_one_flag() -> None:
    from slither_actors.examples import DEMOS
    from slither_actors.examples._workload import SLITHER, Options, run_workload

    options = Options("small", 2, modes=(SLITHER,), executor="ray")
    report = run_workload(DEMOS["batch_stats"].load().WORKLOAD, options)
    assert report.passed, report


def test_a_demo_whose_workers_call_views_is_refused_on_ray_saying_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from slither_actors.examples.__main__ import main

    assert main(["data_etl", "--size", "small", "--executor", "ray", "--no-baseline"]) == 1
    assert "call store views, which Ray actors cannot reach" in capsys.readouterr().err


def test_settings_a_ray_actor_cannot_honour_are_refused_naming_them() -> None:
    for field, value in (("max_calls", 10), ("max_age", 60.0), ("max_rss_mb", 500.0)):
        with pytest.raises(ValueError, match=f"do not take {field}"):
            sa.PoolSettings(backend="ray", **{field: value})
    with pytest.raises(ValueError, match="do not take python"):
        sa.PoolSettings(backend="ray", python="/usr/bin/python3")
    with pytest.raises(sa.ConfigError, match="expected one of"):
        sa.Settings.from_dict({"pools": [{"backend": "dask"}]})


async def test_a_pool_s_env_reaches_its_ray_actors() -> None:
    async with sa.open_runtime(ray_settings(env={"SLITHER_TEST_COLOUR": "teal"})) as runtime:
        pool = await runtime.pool("ray")
        replies = await pool.broadcast("worker_functions:getenv", "SLITHER_TEST_COLOUR")
        assert [reply.value for reply in replies] == ["teal", "teal"]


def test_ray_resources_are_checked_and_only_for_a_ray_pool() -> None:
    assert sa.PoolSettings(backend="ray", ray_resources={"CPU": 0.5}).ray_resources == {
        "CPU": 0.5
    }
    with pytest.raises(ValueError, match=r"ray_resources\['GPU'\] must be a number 0 or more"):
        sa.PoolSettings(backend="ray", ray_resources={"GPU": -1})
    with pytest.raises(ValueError, match="applies to backend 'ray' only"):
        sa.PoolSettings(ray_resources={"CPU": 1})
    base = sa.Settings(pools=(sa.PoolSettings(name="big", backend="ray"),))
    entry = base.with_env({"SLITHER_POOLS__BIG__RAY_RESOURCES__GPU": "0.5"})
    assert entry.pools[0].ray_resources == {"GPU": 0.5}
    environ = {"SLITHER_POOLS__BIG__RAY_RESOURCES__GPU": "lots"}
    with pytest.raises(sa.ConfigError, match="RAY_RESOURCES__GPU='lots': expected float"):
        base.with_env(environ)


async def test_an_actor_asking_for_what_the_cluster_lacks_fails_the_start_saying_so() -> None:
    settings = ray_settings(ray_resources={"CPU": 1, "unicorn": 1}, startup_timeout=2.0)
    with pytest.raises(sa.ChildStartFailed) as failed:
        async with sa.open_runtime(settings):
            pass  # pragma: no cover
    assert "does the cluster have room for them?" in str(failed.value)
    async with sa.open_runtime(ray_settings(ray_resources={"CPU": 0.5})) as runtime:
        pool = await runtime.pool("ray")
        assert await pool.call("worker_functions:double", [4]) == [8]


# --- the dispatch cases of the local pool (tests/test_dispatch_workers.py), on Ray actors ---

CRASH = [1, 2, "die", 4, 5, 6]
HANG = [1, 2, "hang", 4, 5, 6]
PICKY = sa.WorkerExecutor("worker_functions", "picky", pool="ray")


def payloads(items: list[sa.Item]) -> list[object]:
    return [item.payload for item in items]


def dead_letter(item: sa.Item, error: BaseException) -> sa.Item:
    return item.with_route("dead")


async def test_an_actor_that_dies_under_each_error_policy() -> None:
    retry = sa.Retry(max_attempts=2, backoff=sa.Backoff(0.01, 1.0, 0.01), isolate=True, then="skip")
    async with sa.open_runtime(SETTINGS):
        with pytest.raises(sa.DispatchError) as halted:
            await sa.dispatch(CRASH, executor=PICKY, batch_size=2, max_in_flight=1)
        assert isinstance(halted.value.reason, sa.WorkerCrashed)
        assert payloads(halted.value.partial_results) == [2, 4]
        skipped = await sa.dispatch(CRASH, executor=PICKY, batch_size=2, on_error="skip")
        assert payloads(skipped) == [2, 4, "die", 4, 10, 12]
        assert "WorkerCrashed" in skipped[2].meta["error"] and skipped[3].meta["skipped"]
        routed = await sa.dispatch(
            CRASH, executor=PICKY, batch_size=2, on_error=sa.Recover(dead_letter)
        )
        assert [item.route for item in routed] == ["default"] * 2 + ["dead"] * 2 + ["default"] * 2
        isolated = await sa.dispatch(CRASH, executor=PICKY, batch_size=6, on_error=retry)
        assert payloads(isolated) == [2, 4, "die", 8, 10, 12]
        assert [item.payload for item in isolated if item.meta.get("skipped")] == ["die"]


async def test_an_actor_that_hangs_under_each_error_policy_and_order_and_bounds_hold() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        with pytest.raises(sa.DispatchError) as halted:
            await sa.dispatch(HANG, executor=PICKY, batch_size=2, max_in_flight=1, timeout=0.5)
        assert isinstance(halted.value.reason, sa.CallTimeout)
        skipped = await sa.dispatch(
            HANG, executor=PICKY, batch_size=2, on_error="skip", timeout=0.5
        )
        assert payloads(skipped) == [2, 4, "hang", 4, 10, 12]
        assert "CallTimeout" in skipped[2].meta["error"]
        # as_completed hands every item over once; preserve keeps the input's order.
        done = await sa.dispatch(
            range(100), executor=PICKY, batch_size=3, max_in_flight=4, ordering="as_completed"
        )
        assert sorted(payloads(done)) == [2 * number for number in range(100)]  # type: ignore[type-var]
        pool = await runtime.pool("ray")
        most = 0

        def count(event: tuple[str, ...], measured: object, metadata: object, _: object) -> None:
            nonlocal most
            most = max(most, pool.stats().in_flight)

        sa.telemetry.attach("test-ray-bound", [("slither", "pool", "call", "start")], count)
        try:
            kept = await sa.dispatch(range(60), executor=PICKY, batch_size=2, max_in_flight=3)
        finally:
            sa.telemetry.detach("test-ray-bound")
        assert payloads(kept) == [2 * number for number in range(60)]
        assert 1 <= most <= 3


async def test_a_call_waiting_behind_a_hung_one_runs_on_the_new_actor_in_its_own_time() -> None:
    async with sa.open_runtime(ray_settings(size=1, calls_per_worker=2)) as runtime:
        pool = await runtime.pool("ray")
        outcomes: dict[str, object] = {}

        async def hung() -> None:
            try:
                await pool.call("worker_functions:sleep", [30.0], timeout=1.0)
            except sa.CallTimeout as error:
                outcomes["hung"] = error

        async def behind(started: trio.Event) -> None:
            await started.wait()  # the hung call has the only actor: this one waits for it
            outcomes["behind"] = await pool.call("worker_functions:double", [21], timeout=30)

        with calls_started() as started:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(hung)
                nursery.start_soon(behind, started)
        # Its clock started only once the replacement had it, so it did not time out.
        assert isinstance(outcomes["hung"], sa.CallTimeout)
        assert outcomes["behind"] == [42]
        (worker,) = pool.workers()
        assert worker.restarts == 1 and "ran over 1s" in (worker.last_exit or "")


async def test_calls_waiting_or_out_when_the_pool_stops_fail_with_pool_closed() -> None:
    outcomes: list[BaseException] = []

    async def call(pool: object) -> None:
        try:
            await pool.call("worker_functions:sleep", [30.0])  # type: ignore[attr-defined]
        except sa.PoolClosed as error:
            outcomes.append(error)

    with calls_started(2) as both_made:
        async with (
            trio.open_nursery() as nursery,  # outlives the runtime: the calls end after it
            sa.open_runtime(ray_settings(size=1)) as runtime,
        ):
            pool = await runtime.pool("ray")
            nursery.start_soon(call, pool)  # out to the only actor
            nursery.start_soon(call, pool)  # waiting for it
            with trio.fail_after(10):
                await both_made.wait()
            assert pool.stats().in_flight == 1  # the first is out, the second waits
    assert len(outcomes) == 2
