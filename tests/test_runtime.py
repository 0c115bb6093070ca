"""The runtime: the root tree, its registry, and how it ends (normally, by error, by Ctrl-C)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trio

import slither_actors as sa
from tests.conftest import Crash, child_value, journaling_child, settle, terminates


async def test_children_start_in_order_and_names_resolve(journal: list[Any]) -> None:
    children = [journaling_child(label, journal, name=label) for label in ("a", "b")]
    async with sa.open_runtime(children=children) as runtime:
        assert sa.current_runtime() is runtime
        assert await runtime.registry.lookup("b").call("ping") == "pong"
        assert [child.id for child in runtime.root.which_children()] == [
            "stores",
            "pools",
            "services",
            "a",
            "b",
        ]
    assert terminates(journal) == ["b", "a"]
    with pytest.raises(sa.NoRuntime):
        sa.current_runtime()


async def test_an_exception_in_the_block_propagates_unchanged_after_an_orderly_stop(
    journal: list[Any],
) -> None:
    children = [journaling_child(label, journal) for label in ("a", "b")]
    with pytest.raises(KeyError, match="mine"):
        async with sa.open_runtime(children=children):
            raise KeyError("mine")
    assert terminates(journal) == ["b", "a"]


async def test_children_started_at_run_time_stop_with_the_runtime(journal: list[Any]) -> None:
    async with sa.open_runtime() as runtime:
        ref = await runtime.start_child(journaling_child("late", journal, name="late"))
        assert runtime.registry.whereis("late") is ref
    assert not ref.alive and terminates(journal) == ["late"]


async def test_a_root_that_gives_up_raises_supervisor_exhausted_from_the_block(
    journal: list[Any],
) -> None:
    with pytest.raises(sa.SupervisorExhausted, match="'runtime'"):
        async with sa.open_runtime(children=[journaling_child("a", journal)], max_restarts=0) as rt:
            await child_value(rt.root, "a").cast("crash")
            await trio.sleep_forever()


async def test_bad_settings_fail_before_anything_starts(journal: list[Any]) -> None:
    with pytest.raises(sa.ConfigError, match="batchsize"):
        async with sa.open_runtime(
            {"dispatch": {"batchsize": 1}}, children=[journaling_child("a", journal)]
        ):
            pass  # pragma: no cover - never reached
    assert journal == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_restarts": -1}, "max_restarts must be an int, 0 or more, not -1"),
        ({"max_seconds": float("nan")}, "max_seconds must be a number of seconds above 0"),
        ({"max_seconds": True}, "max_seconds must be a number of seconds, not bool True"),
        # Named by its place among the children given, not after the runtime's own three.
        ({"children": [None]}, r"children\[1\] must be a ChildSpec, not NoneType None"),
    ],
)
async def test_bad_runtime_options_fail_before_anything_starts(
    journal: list[Any], options: dict[str, Any], message: str
) -> None:
    arguments = {
        **options,
        "children": [journaling_child("a", journal), *options.get("children", [])],
    }
    with pytest.raises(ValueError, match=message):
        async with sa.open_runtime(**arguments):
            raise AssertionError("started")
    assert journal == []


def test_run_refuses_a_main_it_cannot_call() -> None:
    with pytest.raises(ValueError, match="main must be a callable, not int 5"):
        sa.run(5)  # type: ignore[arg-type]


async def test_settings_reach_the_runtime() -> None:
    async with sa.open_runtime({"dispatch": {"max_in_flight": 2}}) as runtime:
        assert runtime.settings.dispatch.max_in_flight == 2


def test_run_is_the_synchronous_entry_and_returns_mains_result() -> None:
    async def main(runtime: sa.Runtime, number: int) -> int:
        await settle()
        assert runtime.registry.names() == []
        return number * 2

    assert sa.run(main, 21) == 42


async def test_a_crash_inside_a_runtime_is_contained_by_its_supervisor(
    journal: list[Any],
) -> None:
    async with sa.open_runtime(children=[journaling_child("a", journal, name="a")]) as runtime:
        first = runtime.registry.lookup("a")
        with pytest.raises(Crash):
            await first.call("crash")
        second = await runtime.registry.wait_for("a", timeout=5)
        assert second is not first


CTRL_C_SCRIPT = textwrap.dedent(
    """
    import sys, attrs, trio
    import slither_actors as sa

    @attrs.define
    class Loud(sa.Actor):
        label: str
        async def terminate(self, reason):
            print("terminate", self.label, reason, flush=True)

    async def main(runtime):
        print("ready", flush=True)
        await trio.sleep_forever()

    children = [sa.ChildSpec.actor(label, lambda label=label: Loud(label)) for label in "abc"]
    sa.run(main, children=children)
    """
)


async def test_ctrl_c_stops_every_child_in_reverse_order(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(CTRL_C_SCRIPT)
    with trio.fail_after(30):
        process = await trio.lowlevel.open_process(
            [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout is not None and process.stderr is not None
        output = b""
        while b"ready\n" not in output:  # a signal inside print() would cut the line
            output += await process.stdout.receive_some()
        process.send_signal(signal.SIGINT)
        while chunk := await process.stdout.receive_some():
            output += chunk
        errors = b""
        while chunk := await process.stderr.receive_some():
            errors += chunk
        await process.wait()
    assert re.findall(r"terminate \w+ \w+", output.decode()) == [
        "terminate c shutdown",
        "terminate b shutdown",
        "terminate a shutdown",
    ]
    assert process.returncode != 0 and b"KeyboardInterrupt" in errors
