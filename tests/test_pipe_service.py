"""Long-running pipes: start_pipe, draining stops, crashes, and the `run` command."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import pytest
import trio
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


async def test_the_runtime_drains_its_pipes_as_it_stops() -> None:
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
