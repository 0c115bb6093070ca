"""Demo: a crashing actor under rest_for_one, its restarts, escalation, and the telemetry.

The tree it builds inside the runtime::

    runtime (one_for_one)
    └── services (dynamic)
        └── ingest (rest_for_one, at most 2 restarts in 5 s)
            ├── config   the separator; never restarted by the parser's crashes
            ├── parser   splits lines; crashes on a line it cannot parse
            └── sink     collects rows; depends on the parser, so restarts with it

A bad line crashes the parser; rest_for_one restarts the parser and the sink after it and
leaves config alone. Three bad lines in a row exceed the intensity: ingest stops its
children in reverse order and gives up, and the services supervisor above starts a fresh
ingest tree. Every step is printed from the supervisor's telemetry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs
import trio
import trio.testing

import slither_actors as sa


class ParseError(Exception):
    """A line without the separator."""


@attrs.define
class Config(sa.Actor):
    """Holds the separator the parser asks for."""

    separator: str = ","

    async def handle_call(self, message: Any) -> Any:
        return self.separator


@attrs.define
class Parser(sa.Actor):
    """Splits lines into (key, value) rows; any other line crashes it (let it crash)."""

    separator: str = ""

    async def init(self) -> None:
        config = sa.current_registry().lookup("config")
        self.separator = await config.call("separator")

    async def handle_call(self, line: str) -> tuple[str, str]:
        key, found, value = line.partition(self.separator)
        if not found:
            raise ParseError(f"no {self.separator!r} in {line!r}")
        return key, value


@attrs.define
class Sink(sa.Actor):
    """Collects rows. Its state is lost when it restarts, which is what rest_for_one shows."""

    rows: list[tuple[str, str]] = attrs.Factory(list)

    async def handle_cast(self, row: tuple[str, str]) -> None:
        self.rows.append(row)

    async def handle_call(self, message: Any) -> Any:
        return list(self.rows)


INGEST = sa.Supervisor(
    [
        sa.ChildSpec.actor("config", Config, name="config"),
        sa.ChildSpec.actor("parser", Parser, name="parser"),
        sa.ChildSpec.actor("sink", Sink, name="sink"),
    ],
    strategy=sa.Strategy.REST_FOR_ONE,
    max_restarts=2,
    max_seconds=5.0,
    name="ingest",
)

SUPERVISOR_EVENTS = [
    ("slither", "supervisor", "child", "started"),
    ("slither", "supervisor", "child", "exited"),
    ("slither", "supervisor", "child", "restarted"),
    ("slither", "supervisor", "exhausted"),
]


def print_event(
    event: tuple[str, ...], measurements: Mapping[str, Any], metadata: Mapping[str, Any], _: Any
) -> None:
    """A telemetry handler that prints supervisor events as one line each."""
    reason = metadata.get("reason")
    what = ".".join(event[2:])
    because = ""
    if what != "child.restarted" and isinstance(reason, Exception):
        because = f"  ({type(reason).__name__}: {reason})"
    print(f"    telemetry {what:<16} {metadata['supervisor']}/{metadata['child']}{because}")


async def feed(runtime: sa.Runtime, lines: list[str]) -> None:
    """Parse each line and hand the row to the sink; a crash is reported, then waited out."""
    for line in lines:
        parser = await runtime.registry.wait_for("parser", timeout=5)
        try:
            row = await parser.call(line)
        except ParseError as error:
            print(f"  {line!r:>8} -> parser crashed: {error}")
            # Let the supervisors finish restarting before the next line, so the printed
            # telemetry reads in order (a real producer would simply carry on).
            await trio.testing.wait_all_tasks_blocked()
            continue
        await (await runtime.registry.wait_for("sink", timeout=5)).cast(row)
        print(f"  {line!r:>8} -> {row}")


async def demo(runtime: sa.Runtime) -> None:
    """Build the tree, feed it good and bad lines, and print what the supervisors did."""
    with sa.telemetry.capture(SUPERVISOR_EVENTS[:1]) as started:
        await runtime.start_child(sa.ChildSpec("ingest", INGEST.start, kind="supervisor"))

        print("\n1. one bad line: rest_for_one restarts parser and sink, not config")
        await feed(runtime, ["a,1", "b,2", "oops", "c,3"])
        sink = await runtime.registry.wait_for("sink", timeout=5)
        print(f"  the sink holds {await sink.call('rows')} (rows before the crash died with it)")

        print("\n2. two more bad lines: a third restart within 5 s is one too many;")
        print("   ingest stops its children and gives up, and services starts a fresh ingest")
        await feed(runtime, ["bad1", "bad2", "d,4"])

    starts = Counter(
        f"{event.metadata['supervisor']}/{event.metadata['child']}" for event in started
    )
    print("\nstarts per child:", ", ".join(f"{child} {count}" for child, count in starts.items()))


def main() -> None:
    """Run the demo in a fresh runtime, printing supervisor telemetry as it happens."""
    sa.telemetry.attach("supervision-demo", SUPERVISOR_EVENTS[1:], print_event)
    try:
        sa.run(demo)
    finally:
        sa.telemetry.detach("supervision-demo")
