"""What every chaos script shares: its size, its tally and summary line, /proc, pools.

A chaos script throws one kind of fault at a running system, then checks the promises the
library makes about it from the outside: through /proc, telemetry and the results, not
through what the pool thinks of itself. Each ends with one summary line::

    chaos kill_workers: 200 faults, 0 lost, 0 duplicated, 0 orphans

and exits 1, after a ``broken:`` line per broken promise, if any promise was broken.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import math
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
import trio

import slither_actors as sa
from slither_actors import telemetry

CHAOS_DIR = Path(__file__).resolve().parent
# The variable that marks every worker process of one script run (set through the pools'
# `env`), so /proc can tell ours from everyone else's.
MARKER_VARIABLE = "SLITHER_CHAOS_MARKER"
# How often to look again at something only the OS can tell us (a process gone from /proc).
POLL_INTERVAL = 0.02
# How long processes of ours may take to vanish once their parent is done with them.
ORPHAN_GRACE = 5.0
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def parse_options(description: str) -> argparse.Namespace:
    """The command line every script takes: ``--small`` for the few-seconds CI version."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--small", action="store_true", help="a run of a few seconds (CI), not the full one"
    )
    return parser.parse_args()


class Tally:
    """The faults thrown and the promises checked by one script run."""

    def __init__(self, name: str) -> None:
        """A tally with nothing counted yet, for the script ``name``."""
        self.name = name
        self.faults = 0
        self.lost = 0
        self.duplicated = 0
        self.orphans = 0
        self.broken: list[str] = []

    def check(self, holds: bool, promise: str) -> bool:
        """Note ``promise`` as broken unless it ``holds``; return ``holds``."""
        if not holds:
            self.broken.append(promise)
        return holds

    def note(self, text: str) -> None:
        """Print a measurement or an observation (not a verdict)."""
        print(f"  {self.name}: {text}", flush=True)

    def account(
        self, expected: Iterable[Any], delivered: Iterable[Any], failed: Iterable[Any]
    ) -> None:
        """Count, per expected key, how often it was delivered or recorded as failed: none is
        lost, more than once is duplicated. Keys nobody expected are duplicates too."""
        seen = collections.Counter(delivered)
        seen.update(failed)
        wanted = collections.Counter(expected)
        lost = sum(1 for key in wanted if seen[key] == 0)
        duplicated = sum(count - 1 for key, count in seen.items() if count > 1 and key in wanted)
        strangers = sum(count for key, count in seen.items() if key not in wanted)
        self.lost += lost
        self.duplicated += duplicated + strangers
        if lost or duplicated or strangers:
            example = next((key for key in wanted if seen[key] != 1), None)
            self.broken.append(
                f"{lost} lost, {duplicated} duplicated, {strangers} unexpected "
                f"(first bad key: {example!r})"
            )

    async def count_orphans(self, marker: str, what: str = "") -> list[int]:
        """Count the processes carrying ``marker`` still there `ORPHAN_GRACE` seconds after
        their parent is done, kill them (so they do not outlive the script either) and
        return their pids. ``what`` says whose they were, for the verdict."""
        left = await trio.to_thread.run_sync(wait_for_no_marked_processes, marker, ORPHAN_GRACE)
        self.orphans += len(left)
        if left:
            self.broken.append(f"{what}{len(left)} processes outlived their parent: pids {left}")
            for pid in left:
                kill_if_alive(pid, signal.SIGKILL)
        return left

    def summary(self) -> str:
        """The one line every script prints last."""
        return (
            f"chaos {self.name}: {self.faults} faults, {self.lost} lost, "
            f"{self.duplicated} duplicated, {self.orphans} orphans"
        )

    def finish(self) -> int:
        """Print what broke and the summary line; the exit status (1 if anything broke)."""
        for promise, times in collections.Counter(self.broken).items():
            again = f" ({times} times)" if times > 1 else ""
            print(f"broken: {promise}{again}", flush=True)
        print(self.summary(), flush=True)
        failed = self.broken or self.lost or self.duplicated or self.orphans
        return 1 if failed else 0


def run_script(name: str, description: str, main: Callable[[Tally, bool], Awaitable[None]]) -> None:
    """Parse the options, run ``await main(tally, small)`` under Trio, print the summary
    and exit with its status. An exception out of ``main`` is a broken promise too."""
    options = parse_options(description)
    tally = Tally(name)
    try:
        trio.run(main, tally, options.small)
    except Exception as error:  # the script cannot go on: say so in its verdict
        tally.broken.append(f"the run stopped with {type(error).__name__}: {error}")
    sys.exit(tally.finish())


# --- processes, seen through /proc ---------------------------------------------------------


def new_marker() -> str:
    """A value for `MARKER_VARIABLE` that no other run uses."""
    return f"chaos-{uuid.uuid4().hex}"


def marker_env(marker: str) -> dict[str, str]:
    """The ``env`` of a pool whose workers carry ``marker``."""
    return {MARKER_VARIABLE: marker}


def marked_processes(marker: str) -> list[int]:
    """Pids of the live processes whose environment carries ``marker`` (zombies have none)."""
    wanted = f"{MARKER_VARIABLE}={marker}".encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if wanted in environ.read() + b"\0":
                    found.append(int(entry))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return [pid for pid in found if process_alive(pid)]


def wait_for_no_marked_processes(marker: str, grace: float) -> list[int]:
    """Wait up to ``grace`` seconds for every process carrying ``marker`` to end; the pids
    still there then (blocking: call it once the processes' parent is gone)."""
    deadline = time.monotonic() + grace
    while (left := marked_processes(marker)) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    return left


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def kill_if_alive(pid: int, sent: signal.Signals) -> bool:
    """Send ``sent`` to ``pid`` if it is alive; True if the signal landed on a live process
    (a pid that already died, or is a zombie waiting to be reaped, does not count)."""
    if not process_alive(pid):
        return False
    try:
        os.kill(pid, sent)
    except ProcessLookupError:
        return False
    return True


def resident_megabytes() -> float:
    """This process's resident memory, in MiB, from /proc/self/statm."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE_SIZE / 2**20


def open_fds() -> dict[int, str]:
    """This process's open file descriptors and what each points at."""
    found = {}
    for entry in os.listdir("/proc/self/fd"):
        try:
            found[int(entry)] = os.readlink(f"/proc/self/fd/{entry}")
        except OSError:  # the descriptor listdir itself used, closed by now
            continue
    return found


async def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` for up to ``timeout`` seconds; whether it came to hold."""
    with trio.move_on_after(timeout):
        while not condition():  # noqa: ASYNC110 (the OS sends no event for these)
            await trio.sleep(POLL_INTERVAL)
        return True
    return False


# --- pools and telemetry -------------------------------------------------------------------


def pool_settings(marker: str, **overrides: Any) -> sa.PoolSettings:
    """A small pool whose workers import chaos/worker_functions.py and carry ``marker``."""
    options: dict[str, Any] = {
        "size": 2,
        "cwd": str(CHAOS_DIR),
        "preload": ("worker_functions",),
        "env": marker_env(marker),
        "call_timeout": 20.0,
        "stop_grace": 1.0,
        "kill_grace": 0.5,
    }
    env = overrides.pop("env", {})
    options.update(overrides)
    options["env"] = {**options["env"], **env}
    return sa.PoolSettings(**options)


class EventLog:
    """Worker lifecycle events as they happen, each with the `time.monotonic` it came at.

    Use it as a context manager: it attaches a telemetry handler and detaches it after.
    """

    NAMES = tuple(
        ("slither", "worker", what) for what in ("ready", "restarted", "exited", "crashed")
    )

    def __init__(self) -> None:
        """An empty log; entering it starts recording."""
        self.events: list[tuple[float, tuple[str, ...], dict[str, Any]]] = []
        self._handler_id = f"chaos-event-log-{uuid.uuid4().hex}"

    def __enter__(self) -> EventLog:
        """Start recording."""
        telemetry.attach(self._handler_id, list(self.NAMES), self._record)
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop recording."""
        telemetry.detach(self._handler_id)

    def _record(
        self, event: tuple[str, ...], measurements: Any, metadata: Any, config: Any
    ) -> None:
        """The telemetry handler: note the event and when it came."""
        self.events.append((time.monotonic(), event, dict(metadata)))

    def of(self, what: str, since: float = -math.inf) -> list[tuple[float, dict[str, Any]]]:
        """The ``("slither", "worker", what)`` events at or after ``since``."""
        return [
            (when, metadata)
            for when, name, metadata in self.events
            if name[-1] == what and when >= since
        ]

    def first(
        self, what: str, since: float, **metadata: Any
    ) -> tuple[float, dict[str, Any]] | None:
        """The first ``what`` event at or after ``since`` whose metadata has those values."""
        for when, found in self.of(what, since):
            if all(found.get(key) == value for key, value in metadata.items()):
                return when, found
        return None


@attrs.define
class Neighbours:
    """Tasks making good calls on a pool beside the faults, each result checked; a failed
    one is a lost call. They can pause (wait for their calls in flight) and resume."""

    pool: sa.WorkerPool
    tally: Tally
    beside: str  # what they run beside, for the verdict
    known: str = ""  # a known cause of such a failure, added to the verdict
    done: int = 0
    in_flight: int = 0
    paused: bool = False
    resumed: trio.Event = attrs.Factory(trio.Event)
    settled: trio.Event = attrs.Factory(trio.Event)
    numbers: itertools.count[int] = attrs.Factory(itertools.count)

    def start(self, nursery: trio.Nursery, tasks: int = 2) -> None:
        """Run ``tasks`` callers in ``nursery`` until it is cancelled."""
        for _ in range(tasks):
            nursery.start_soon(self.run)

    async def run(self) -> None:
        """Good calls, one after another, until cancelled."""
        while True:
            if self.paused:
                await self.resumed.wait()
                continue
            number = next(self.numbers)
            self.in_flight += 1
            try:
                results = await self.pool.call("worker_functions:double", [number, -number])
            except Exception as error:
                self.tally.lost += 1
                self.tally.broken.append(
                    f"a good call beside {self.beside} failed: {type(error).__name__}: "
                    f"{error}{self.known}"
                )
            else:
                self.done += 1
                if results != [2 * number, -2 * number]:
                    self.tally.broken.append(f"a good call beside {self.beside} got {results!r}")
            finally:
                self.in_flight -= 1
                if not self.in_flight:
                    self.settled.set()
            await trio.sleep(0.005)

    async def pause(self) -> None:
        """Make no new calls, and wait until those in flight are done."""
        self.paused = True
        self.resumed = trio.Event()
        while self.in_flight:
            self.settled = trio.Event()
            await self.settled.wait()

    def resume(self) -> None:
        """Make calls again."""
        self.paused = False
        self.resumed.set()
