"""Worker pools with real processes: calls, errors, crashes, timeouts, limits, affinity."""

from __future__ import annotations

import logging
import os
import signal
from functools import partial
from typing import Any

import pytest
import trio

import slither_actors as sa
from tests.pool_helpers import pool_settings, process_alive, wait_until, worker_pids


async def test_a_call_returns_one_result_per_payload() -> None:
    async with sa.open_pool(pool_settings()) as pool:
        assert await pool.call("worker_functions:double", [1, 2, 3]) == [2, 4, 6]
        assert await pool.call("worker_functions:echo", []) == []
        assert await pool.call(sa.Tool("shout"), ["a", "b"]) == ["A", "B"]


async def test_payloads_of_every_msgpack_type_round_trip() -> None:
    payloads = [None, True, -(2**63), 2**64 - 1, 1.5, "é", b"\x00\xff", [1, [2]], {"k": {"n": 1}}]
    async with sa.open_pool(pool_settings(size=1)) as pool:
        assert await pool.call("worker_functions:echo", payloads) == payloads


async def test_a_module_is_imported_once_per_worker_and_its_state_stays_there() -> None:
    async with sa.open_pool(pool_settings(size=1)) as pool:
        first = await pool.call("worker_functions:whoami", ["a"])
        second = await pool.call("worker_functions:whoami", ["b", "c"])
    assert first[0]["imports"] == second[0]["imports"] == 1
    assert [result["calls"] for result in first + second] == [1, 3, 3]


async def test_an_exception_in_user_code_is_a_worker_error_with_the_remote_traceback() -> None:
    async with sa.open_pool(pool_settings(size=1)) as pool:
        with pytest.raises(sa.WorkerError) as caught:
            await pool.call("worker_functions:fail", [7])
        pid = worker_pids(pool)[0]
        assert await pool.call("worker_functions:double", [1]) == [2]  # the worker lives on
        assert worker_pids(pool) == [pid]
    error = caught.value
    assert error.remote_type == "ValueError" and error.remote_message == "cannot handle [7]"
    assert 'worker_functions.py", line' in error.remote_traceback
    assert str(error).startswith("worker_functions:fail raised ValueError: cannot handle [7] (")
    assert f"worker 1 pid {pid}" in str(error)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("worker_functions:short", "returned 1 results for a batch of 2"),
        ("worker_functions:not_a_list", "returned a tuple, not a list of 2 results"),
        ("worker_functions:unencodable", "result 1 cannot travel.*set is not a type that travels"),
        ("missing_module:f", "No module named 'missing_module'"),
        ("worker_functions:nope", "has no attribute 'nope'"),
    ],
)
async def test_wrong_results_and_targets_are_worker_errors_naming_the_problem(
    target: str, message: str
) -> None:
    async with sa.open_pool(pool_settings(size=1)) as pool:
        with pytest.raises(sa.WorkerError, match=message):
            await pool.call(target, [1, 2])


async def test_an_unknown_tool_names_the_registered_ones() -> None:
    async with sa.open_pool(pool_settings(size=1)) as pool:
        with pytest.raises(sa.WorkerError, match=r"no tool named 'whisper'.*registered: shout"):
            await pool.call(sa.Tool("whisper"), [1])


async def test_a_payload_that_cannot_travel_is_refused_before_it_is_sent() -> None:
    async with sa.open_pool(pool_settings(size=1)) as pool:
        with pytest.raises(sa.PayloadError, match=r"payload 2 cannot travel.*set"):
            await pool.call("worker_functions:echo", [1, 2, (3, {4})])
        with pytest.raises(ValueError, match=r"'module:function' or Tool"):
            await pool.call("no_colon", [1])


async def test_frames_over_the_limit_are_refused_on_both_sides() -> None:
    async with sa.open_pool(pool_settings(size=1, max_frame=4096)) as pool:
        with pytest.raises(sa.PayloadError, match=r"exceeds the 4,096-byte frame limit"):
            await pool.call("worker_functions:echo", ["x" * 5000])
        with pytest.raises(sa.WorkerError, match=r"exceeds the 4,096-byte frame limit"):
            await pool.call("worker_functions:huge", [5000])
        assert await pool.call("worker_functions:huge", [10]) == [b"x" * 10]


async def test_what_user_code_prints_reaches_the_log_and_never_the_protocol(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="slither_actors.worker"):
        async with sa.open_pool(pool_settings(size=1)) as pool:
            assert await pool.call("worker_functions:chatty", ["hi"]) == ["hi"]
            pid = worker_pids(pool)[0]
            assert await pool.call("worker_functions:double", [2]) == [4]
    lines = [(record.levelno, record.getMessage()) for record in caplog.records]
    tag = f"[pool 'default' worker 1 pid {pid}]"
    assert (logging.INFO, f"{tag} printed by user code ['hi']") in lines
    assert (logging.INFO, f"{tag} written straight to fd 1") in lines
    assert (logging.WARNING, f"{tag} to stderr") in lines
    assert all(record.worker_id == 1 for record in caplog.records if tag in record.getMessage())


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("worker_functions:exit_now", "exited with code 3"),
        ("worker_functions:sigkill_self", "was killed by signal SIGKILL"),
    ],
)
async def test_a_worker_that_dies_mid_call_fails_that_call_and_is_replaced(
    target: str, reason: str
) -> None:
    events = [("slither", "worker", name) for name in ("crashed", "restarted", "ready")]
    with sa.telemetry.capture(events) as seen:
        async with sa.open_pool(pool_settings(size=1)) as pool:
            (old_pid,) = worker_pids(pool)
            with pytest.raises(sa.WorkerCrashed, match=rf"worker running {target} {reason}"):
                await pool.call(target, [1])
            with trio.fail_after(10):
                await pool.wait_until_ready()
            (new_pid,) = worker_pids(pool)
            assert new_pid != old_pid and not process_alive(old_pid)
            assert await pool.call("worker_functions:double", [5]) == [10]
    names = [event.name[-1] for event in seen]
    assert names == ["ready", "crashed", "ready", "restarted"]
    assert seen[1].metadata["pid"] == old_pid and reason in seen[1].metadata["reason"]


async def test_calls_queued_behind_a_crash_move_to_the_replacement_untouched() -> None:
    async with sa.open_pool(pool_settings(size=1, calls_per_worker=3)) as pool:
        outcomes: dict[str, Any] = {}

        async def run(name: str, target: str, payloads: list[Any]) -> None:
            try:
                outcomes[name] = await pool.call(target, payloads)
            except sa.SlitherError as error:
                outcomes[name] = error

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "crashing", "worker_functions:exit_slowly", [1])
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(run, "behind 1", "worker_functions:double", [1])
            nursery.start_soon(run, "behind 2", "worker_functions:double", [2])
    assert isinstance(outcomes["crashing"], sa.WorkerCrashed)
    assert outcomes["behind 1"] == [2] and outcomes["behind 2"] == [4]


async def test_a_call_that_runs_over_its_timeout_costs_its_worker() -> None:
    async with sa.open_pool(pool_settings(size=1)) as pool:
        (old_pid,) = worker_pids(pool)
        with pytest.raises(
            sa.CallTimeout, match=r"worker_functions:sleep got no result within 0.3s"
        ):
            await pool.call("worker_functions:sleep", [30], timeout=0.3)
        await wait_until(lambda: len(worker_pids(pool)) == 1 and worker_pids(pool) != [old_pid])
        await wait_until(lambda: not process_alive(old_pid))
        assert await pool.call("worker_functions:double", [1]) == [2]


async def test_a_stopped_worker_misses_its_heartbeat_and_is_replaced() -> None:
    settings = pool_settings(size=1, heartbeat_interval=0.1, heartbeat_timeout=0.2)
    with sa.telemetry.capture([("slither", "worker", "crashed")]) as crashed:
        async with sa.open_pool(settings) as pool:
            (old_pid,) = worker_pids(pool)
            os.kill(old_pid, signal.SIGSTOP)
            await wait_until(lambda: worker_pids(pool) not in ([], [old_pid]))
            await wait_until(lambda: not process_alive(old_pid))
            assert await pool.call("worker_functions:double", [3]) == [6]
    assert "did not answer a heartbeat within 0.2s" in crashed[0].metadata["reason"]


async def test_a_worker_killed_while_its_heartbeat_waits_for_the_pong_is_replaced() -> None:
    # The heartbeat reads the pipe itself; the end of the pipe must end its reading (this
    # once spun the event loop forever, so a regression hangs rather than fails).
    settings = pool_settings(size=1, heartbeat_interval=0.05, heartbeat_timeout=30)
    async with sa.open_pool(settings) as pool:
        (old_pid,) = worker_pids(pool)
        os.kill(old_pid, signal.SIGSTOP)
        (live,) = pool._state.workers.values()
        await wait_until(lambda: live.reader == "heartbeat")  # a ping is out, unanswered
        os.kill(old_pid, signal.SIGKILL)
        await wait_until(lambda: worker_pids(pool) not in ([], [old_pid]))
        assert await pool.call("worker_functions:double", [3]) == [6]


async def test_garbage_on_the_protocol_pipe_crashes_only_that_worker() -> None:
    async with sa.open_pool(pool_settings(size=1)) as pool:
        with pytest.raises(sa.WorkerCrashed, match=r"sent a malformed frame"):
            await pool.call("worker_functions:garbage", [1])
        await wait_until(lambda: len(worker_pids(pool)) == 1)
        assert await pool.call("worker_functions:double", [4]) == [8]


async def test_past_the_queue_limit_a_call_is_refused_at_once() -> None:
    settings = pool_settings(size=1, calls_per_worker=1, queue_limit=2)
    with sa.telemetry.capture([("slither", "pool", "saturated")]) as saturated:
        async with sa.open_pool(settings) as pool, trio.open_nursery() as nursery:
            for _ in range(3):  # one runs, two wait
                nursery.start_soon(pool.call, "worker_functions:sleep", [0.2])
            await trio.testing.wait_all_tasks_blocked()
            assert pool.stats().waiting == 2
            with pytest.raises(sa.PoolSaturated, match=r"2 calls already wait"):
                await pool.call("worker_functions:double", [1])
    assert saturated[0].metadata == {"pool": "default", "queue_limit": 2}


async def test_hint_affinity_keeps_a_session_on_its_worker_until_that_worker_goes() -> None:
    with sa.telemetry.capture([("slither", "session", "affinity", "broken")]) as broken:
        async with sa.open_pool(pool_settings(size=2)) as pool:
            runs = [
                await pool.call("worker_functions:whoami", [i], session_id="s1") for i in range(4)
            ]
            assert len({run[0]["pid"] for run in runs}) == 1
            assert runs[0][0]["session"] == "s1"
            with pytest.raises(sa.WorkerCrashed):
                await pool.call("worker_functions:exit_now", [1], session_id="s1")
            moved = await pool.call("worker_functions:whoami", [9], session_id="s1")
            assert moved[0]["pid"] != runs[0][0]["pid"]
    assert broken[0].metadata["session_id"] == "s1"
    assert broken[0].metadata["reason"] == "worker exited"


async def test_strict_affinity_reports_a_lost_session() -> None:
    async with sa.open_pool(pool_settings(size=2, affinity="strict")) as pool:
        first = await pool.call("worker_functions:whoami", [1], session_id="s")
        again = await pool.call("worker_functions:whoami", [2], session_id="s")
        assert first[0]["pid"] == again[0]["pid"] and again[0]["calls"] == 2
        with pytest.raises(sa.WorkerCrashed):
            await pool.call("worker_functions:exit_now", [1], session_id="s")
        with pytest.raises(sa.SessionLost, match=r"session 's' of pool 'default' lost its worker"):
            await pool.call("worker_functions:whoami", [3], session_id="s")
        pool.end_session("s")
        assert await pool.call("worker_functions:double", [1], session_id="s") == [2]


async def test_strict_affinity_never_forgets_a_session_to_make_room() -> None:
    settings = pool_settings(size=2, affinity="strict", max_sessions=2)
    async with sa.open_pool(settings) as pool:
        homes = {
            session: (await pool.call("worker_functions:whoami", [0], session_id=session))[0]
            for session in ("a", "b")
        }
        with pytest.raises(sa.TooManySessions, match=r"keeps 2 strict sessions already"):
            await pool.call("worker_functions:whoami", [0], session_id="c")
        for session, home in homes.items():  # both still on their workers, state intact
            again = await pool.call("worker_functions:whoami", [1], session_id=session)
            assert again[0]["pid"] == home["pid"] and again[0]["calls"] > home["calls"]
        pool.end_session("a")
        assert await pool.call("worker_functions:double", [1], session_id="c") == [2]


async def test_hint_affinity_forgets_the_least_recently_used_session() -> None:
    async with sa.open_pool(pool_settings(size=1, max_sessions=2)) as pool:
        for session in ("a", "b", "c"):
            await pool.call("worker_functions:double", [1], session_id=session)
        assert pool.stats().sessions == 2


async def test_strict_affinity_waits_for_its_busy_worker() -> None:
    async with sa.open_pool(pool_settings(size=2, affinity="strict", calls_per_worker=1)) as pool:
        home = await pool.call("worker_functions:whoami", [0], session_id="s")
        async with trio.open_nursery() as nursery:
            busy = partial(pool.call, "worker_functions:sleep", [0.2], session_id="s")
            nursery.start_soon(busy)  # keeps the session's worker busy
            await trio.testing.wait_all_tasks_blocked()
            later = await pool.call("worker_functions:whoami", [1], session_id="s")
        assert later[0]["pid"] == home[0]["pid"]


async def test_recycling_after_max_calls_fails_nothing_in_flight() -> None:
    settings = pool_settings(size=1, max_calls=3, calls_per_worker=2)
    with sa.telemetry.capture([("slither", "worker", "recycled")]) as recycled:
        async with sa.open_pool(settings) as pool:
            results: list[Any] = []
            async with trio.open_nursery() as nursery:
                for number in range(9):
                    nursery.start_soon(lambda n=number: _collect(pool, n, results))
            assert sorted(results) == [n * 2 for n in range(9)]
    assert len(recycled) >= 2 and {event.metadata["reason"] for event in recycled} == {
        "recycled (max_calls); it exited with code 0"
    }


async def _collect(pool: sa.WorkerPool, number: int, results: list[Any]) -> None:
    results.extend(await pool.call("worker_functions:double", [number]))


async def test_recycling_after_max_age_and_max_rss() -> None:
    for rule, value in (("max_age", 0.2), ("max_rss_mb", 1.0)):
        settings = pool_settings(size=1, heartbeat_interval=0.05, **{rule: value})
        async with sa.open_pool(settings) as pool:
            (first,) = worker_pids(pool)
            await wait_until(lambda first=first: worker_pids(pool) not in ([], [first]))
            assert await pool.call("worker_functions:double", [1]) == [2]


async def test_broadcast_reaches_every_live_worker_exactly_once() -> None:
    async with sa.open_pool(pool_settings(size=3)) as pool:
        replies = await pool.broadcast("worker_functions:whoami", "probe")
        assert [reply.worker_id for reply in replies] == [1, 2, 3]
        assert {reply.pid for reply in replies} == set(worker_pids(pool))
        assert all(reply.error is None and reply.value["calls"] == 1 for reply in replies)
        failed = await pool.broadcast("worker_functions:fail", 1)
        assert all(isinstance(reply.error, sa.WorkerError) for reply in failed)


async def test_a_worker_calls_a_view_in_the_parent() -> None:
    table = {"user:42": {"tier": "gold"}}
    asked: list[tuple[str, Any, Any]] = []

    async def resolve(name: str, params: dict[str, Any], session_id: str | None) -> Any:
        asked.append((name, params, session_id))
        if name != "lookup":
            raise LookupError(f"no view named {name!r}")
        return table.get(params["key"])

    async with sa.open_pool(pool_settings(size=1)) as pool:
        pool.set_view_resolver(resolve)
        assert await pool.call("worker_functions:lookup", ["user:42", "x"], session_id="run") == [
            {"tier": "gold"},
            None,
        ]
        (reply,) = await pool.call("worker_functions:lookup_error", ["k"])
    assert asked[0] == ("lookup", {"key": "user:42"}, "run")
    assert reply == "LookupError: view 'missing' failed: LookupError: no view named 'missing'"


async def test_calls_moved_off_a_crashed_worker_are_not_refused_by_a_full_queue() -> None:
    settings = pool_settings(size=1, calls_per_worker=2, queue_limit=1)
    async with sa.open_pool(settings) as pool:
        outcomes: dict[str, Any] = {}

        async def run(name: str, target: str) -> None:
            try:
                outcomes[name] = await pool.call(target, [1])
            except sa.SlitherError as error:
                outcomes[name] = error

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "crashing", "worker_functions:exit_slowly")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(run, "behind", "worker_functions:double")  # written behind it
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(run, "queued", "worker_functions:double")  # fills the queue
    assert isinstance(outcomes["crashing"], sa.WorkerCrashed)
    assert outcomes["behind"] == [2] and outcomes["queued"] == [2]
