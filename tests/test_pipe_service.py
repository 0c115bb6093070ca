"""Long-running pipes: start_pipe, draining stops, crashes, and the `run` command."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

import slither_actors as sa
from tests.pool_helpers import process_alive
from tests.test_examples import ROOT


async def discard(output: str, item: sa.Item) -> None:
    """A sink that drops what it gets."""


def double(item: sa.Item, ctx: sa.Context) -> int:
    return item.payload * 2


class Doubling(sa.Pipe):
    stages = [sa.LocalStage("double", double)]


async def slow_double(item: sa.Item, ctx: sa.Context) -> int:
    await trio.sleep(0.01)
    return item.payload * 2


class SlowDoubling(sa.Pipe):
    stages = [sa.LocalStage("slow", slow_double), sa.LocalStage("double", double)]


async def test_a_started_pipe_reads_its_source_until_it_ends() -> None:
    send, receive = trio.open_memory_channel[int](0)
    out_send, out_receive = trio.open_memory_channel[tuple[str, sa.Item]](100)
    async with sa.open_runtime():
        service = await sa.start_pipe(Doubling, receive, out_send)
        async with send:
            for number in range(5):
                await send.send(number)
        await service.wait()
        assert not service.running
    got = [out_receive.receive_nowait() for _ in range(5)]
    assert [(output, item.payload) for output, item in got] == [
        ("default", n * 2) for n in range(5)
    ]
    assert service.delivered == {"default": 5}


async def test_a_draining_stop_lets_the_items_inside_finish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    delivered: list[int] = []

    async def sink(output: str, item: sa.Item) -> None:
        delivered.append(item.payload)

    send, receive = trio.open_memory_channel[int](100)
    for number in range(20):
        send.send_nowait(number)  # the source stays open: only a stop ends the pipe
    async with sa.open_runtime():
        service = await sa.start_pipe(SlowDoubling, receive, sink)
        await trio.sleep(0.05)  # a few items are through, the rest inside or still waiting
        await service.stop(drain=True)
        taken = 20 - receive.statistics().current_buffer_used  # what the pipe read from its source
    assert not service.cut_short and len(delivered) == taken > 0
    assert sorted(delivered) == [n * 4 for n in range(taken)]


async def test_a_stop_past_its_drain_timeout_cuts_the_pipe_short(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def stuck(item: sa.Item, ctx: sa.Context) -> int:
        await trio.sleep_forever()
        raise AssertionError

    class Stuck(sa.Pipe):
        stages = [sa.LocalStage("stuck", stuck)]

    send, receive = trio.open_memory_channel[int](10)
    send.send_nowait(1)
    async with sa.open_runtime():
        service = await sa.start_pipe(Stuck, receive, discard)
        await trio.sleep(0.1)
        await service.stop(drain=True, timeout=1.0)
    assert service.cut_short and not service.running


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"session_id": 7}, "session_id must be a str or None, not int 7"),
        ({"session_id": ""}, "session_id must not be empty"),
        # NaN once passed, and hung the runtime as it stopped the pipe.
        ({"shutdown": float("nan")}, "shutdown must be a number of seconds 0 or more, not nan"),
        ({"shutdown": -1}, "shutdown must be a number of seconds 0 or more, not -1"),
        ({"shutdown": True}, "shutdown must be a number of seconds, not bool True"),
        ({"source": [1, 2]}, "source must be an async iterable, not list"),
        ({"sink": 5}, "sink must be a callable, not int 5"),
        ({"on_error": 5}, "on_error must be a callable or None, not int 5"),
        ({"pipe": sa.Pipe}, "pipe must be a Pipe subclass with stages"),
    ],
)
async def test_start_pipe_refuses_bad_arguments_and_a_good_pipe_beside_runs_on(
    options: dict[str, Any], message: str
) -> None:
    delivered: list[int] = []

    async def sink(output: str, item: sa.Item) -> None:
        delivered.append(item.payload)

    send, receive = trio.open_memory_channel[int](10)
    bad_send, bad_receive = trio.open_memory_channel[int](10)
    with trio.fail_after(10):
        async with sa.open_runtime() as runtime:
            good = await sa.start_pipe(Doubling, receive, sink)
            arguments = {"pipe": Doubling, "source": bad_receive, "sink": discard, **options}
            with pytest.raises(ValueError, match=message):
                service = await sa.start_pipe(**arguments)
                # Not refused (a regression): end it now, as a bad shutdown could hang the
                # runtime's own stop.
                await service.stop(drain=False)
            assert [child.id for child in runtime.services.which_children()] == [
                f"pipe Doubling {good.session_id}"
            ]
            await send.send(21)
            await trio.testing.wait_all_tasks_blocked()
            assert delivered == [42] and good.running
    bad_send.close()


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        (float("nan"), "timeout must be a number of seconds 0 or more, not nan"),
        (-1.0, "timeout must be a number of seconds 0 or more, not -1.0"),
        (True, "timeout must be a number of seconds, not bool True"),
        ("1", "timeout must be a number of seconds, not str '1'"),
    ],
)
async def test_a_stop_with_a_bad_timeout_refuses_before_it_stops_anything(
    timeout: Any, message: str
) -> None:
    delivered: list[int] = []

    async def sink(output: str, item: sa.Item) -> None:
        delivered.append(item.payload)

    send, receive = trio.open_memory_channel[int](10)
    with trio.fail_after(10):
        async with sa.open_runtime():
            service = await sa.start_pipe(Doubling, receive, sink)
            with pytest.raises(ValueError, match=message):
                await service.stop(timeout=timeout)
            await send.send(1)  # it still reads its source: the bad stop stopped nothing
            await trio.testing.wait_all_tasks_blocked()
            assert delivered == [2] and service.running
            await service.stop(timeout=1.0)
            assert not service.running


async def test_the_runtime_drains_its_pipes_as_it_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    delivered: list[int] = []

    async def sink(output: str, item: sa.Item) -> None:
        delivered.append(item.payload)

    send, receive = trio.open_memory_channel[int](100)
    for number in range(10):
        send.send_nowait(number)
    async with sa.open_runtime():
        service = await sa.start_pipe(SlowDoubling, receive, sink)
        await trio.sleep(0.02)
    assert not service.running and not service.cut_short
    assert len(delivered) == 10 - receive.statistics().current_buffer_used


async def test_a_halted_pipe_ends_and_wait_raises_its_error() -> None:
    def refuse(item: sa.Item, ctx: sa.Context) -> Any:
        raise ValueError("no")

    class Refusing(sa.Pipe):
        stages = [sa.LocalStage("refuse", refuse)]

    send, receive = trio.open_memory_channel[int](10)
    send.send_nowait(1)
    async with sa.open_runtime():
        service = await sa.start_pipe(Refusing, receive, discard)
        with pytest.raises(sa.PipeError, match="halted at stage 'refuse'"):
            await service.wait()


async def test_a_crashed_stage_of_a_running_pipe_is_restarted_on_its_inbox() -> None:
    records: list[sa.ErrorRecord] = []
    delivered: list[int] = []
    holding = trio.Event()

    async def hold_the_first(item: sa.Item, ctx: sa.Context) -> int:
        if item.payload == 0:
            holding.set()
            await trio.sleep_forever()
        return item.payload

    class Holding(sa.Pipe):
        stages = [sa.LocalStage("hold", hold_the_first)]

    async def sink(output: str, item: sa.Item) -> None:
        delivered.append(item.payload)

    send, receive = trio.open_memory_channel[int](10)
    for number in range(4):
        send.send_nowait(number)
    async with sa.open_runtime():
        service = await sa.start_pipe(Holding, receive, sink, on_error=records.append)
        await holding.wait()
        (stage,) = service._run.supervisor.which_children()
        await stage.value.cast("crash")  # stage actors take no casts: this crashes it
        send.close()
        await service.wait()
    assert delivered == [1, 2, 3]
    assert [(record.item.payload, record.stage) for record in records] == [(0, "hold")]
    assert "the stage crashed" in records[0].reason


async def test_start_pipe_needs_a_runtime() -> None:
    send, receive = trio.open_memory_channel[int](1)
    with pytest.raises(sa.NoRuntime):
        await sa.start_pipe(Doubling, receive, send)


# --- python -m slither_actors run -------------------------------------------------------------


def test_the_run_command_drains_on_sigterm_and_loses_nothing() -> None:
    command = [
        sys.executable,
        "-m",
        "slither_actors",
        "run",
        "tests.pipe_service:main",
        "--settings",
        "tests/pipe_service.toml",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    pids = process.stdout.readline()
    assert pids.startswith("worker pids:"), pids
    worker_pids = [int(pid) for pid in pids.split(":")[1].split()]
    first = process.stdout.readline()  # blocks until the pipe runs, items flowing
    assert first.startswith("first item out"), first
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "SIGTERM: draining" in err
    read, delivered = _counts(out)
    assert read == delivered > 0, out
    assert f"delivered default {delivered}; 0 error records" in err
    assert len(worker_pids) == 2 and not any(process_alive(pid) for pid in worker_pids)


def test_the_run_command_explains_a_target_it_cannot_load() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "slither_actors", "run", "tests.nowhere:main"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot load 'tests.nowhere:main'" in result.stderr


def _counts(out: str) -> tuple[int, int]:
    line = next(line for line in out.splitlines() if line.startswith("read "))
    read, delivered = (int(part.split()[-1]) for part in line.split(","))
    return read, delivered


class WorkerDoubling(sa.Pipe):
    stages = [
        sa.LocalStage("slow", slow_double),
        sa.WorkerStage("double", module="worker_functions", function="double", batch_size=4),
    ]


async def test_the_runtime_stops_its_pipes_before_the_pools_they_use() -> None:
    delivered: list[int] = []

    enough = trio.Event()

    async def sink(output: str, item: sa.Item) -> None:
        delivered.append(item.payload)
        if len(delivered) == 20:
            enough.set()

    async def endless() -> AsyncIterator[int]:
        number = 0
        while True:
            yield number
            number += 1
            await trio.lowlevel.checkpoint()

    pools = [{"name": "default", "size": 2, "cwd": "tests", "preload": ["worker_functions"]}]
    async with sa.open_runtime({"pools": pools}):
        service = await sa.start_pipe(WorkerDoubling, endless(), sink)
        await enough.wait()
    # It drained on the runtime's stop, its worker stage still served by the pool.
    assert service.error is None and not service.cut_short
    assert delivered == [4 * number for number in range(len(delivered))]  # doubled twice
