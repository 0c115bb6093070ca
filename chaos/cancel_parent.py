"""chaos cancel_parent: stop a parent program at random moments, by every means, many times.

Each run starts chaos/parent_program.py (a runtime with a pool of 2 workers, dispatching
without end) and ends it at a random moment, from its start-up to the middle of its work:
by a cancel scope inside it, or by SIGINT, SIGTERM or SIGKILL from outside. Promises:

- the parent ends (within 10 s of the cancel or the signal);
- no process of ours is left: none whose environment carries the run's marker, which only
  the workers get (through ``PoolSettings(env=...)``), looked up in /proc;
- no temporary file is left in the run's TMPDIR, and a parent that lived to tell (cancel,
  SIGINT) holds no file descriptor it did not hold before its runtime started;
- a cancelled parent exits normally.

``python chaos/cancel_parent.py`` makes 50 runs; ``--small`` makes 8, two by each means.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import attrs
import trio
from _common import (
    CHAOS_DIR,
    Tally,
    marked_processes,
    marker_env,
    new_marker,
    run_script,
)

MEANS = ("cancel", "SIGINT", "SIGTERM", "SIGKILL")
RUNS = {False: 50, True: 8}
AT_ONCE = 4  # parents running at the same time
LATEST = 1.5  # seconds: the latest moment to stop a parent (its workers are busy by then)
EXIT_LIMIT = 10.0  # seconds a parent has to end once cancelled or signalled


@attrs.frozen
class Ending:
    """How one run ended: the parent's exit status and what it reported, if anything."""

    returncode: int | None
    report: dict[str, object] | None
    stderr: str
    workers_at_signal: int = 0  # marked processes alive when the signal was sent


async def run_parent(means: str, moment: float, marker: str, tmpdir: str) -> Ending:
    """Start a parent program, end it by ``means`` at ``moment``, and wait for it."""
    command = [sys.executable, str(CHAOS_DIR / "parent_program.py"), "--marker", marker]
    if means == "cancel":
        command += ["--cancel-after", repr(moment)]
    completed: list[subprocess.CompletedProcess[bytes]] = []
    workers_at_signal = 0

    async def run(task_status: trio.TaskStatus[trio.Process]) -> None:
        """Run the parent program to its end, reporting its process once started."""
        completed.append(
            await trio.run_process(
                command,
                check=False,
                capture_stdout=True,
                capture_stderr=True,
                env={**os.environ, "TMPDIR": tmpdir},
                task_status=task_status,
            )
        )

    with trio.move_on_after(moment + EXIT_LIMIT):
        async with trio.open_nursery() as nursery:
            process = await nursery.start(run)
            if means != "cancel":
                await trio.sleep(moment)
                workers_at_signal = len(marked_processes(marker))
                process.send_signal(signal.Signals[means])
    if not completed:  # cancelled: run_process killed it on the way out
        return Ending(None, None, "", workers_at_signal)
    done = completed[0]
    lines = done.stdout.decode(errors="replace").splitlines()
    report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    stderr = done.stderr.decode(errors="replace")
    return Ending(done.returncode, report, stderr, workers_at_signal)


async def one_run(
    tally: Tally, means: str, moment: float, limit: trio.CapacityLimiter, busy: list[int]
) -> None:
    """One parent, ended by ``means`` at ``moment``; check what it left behind."""
    what = f"{means} at {moment:.2f} s: "
    async with limit:
        marker = new_marker()
        tmpdir = tempfile.mkdtemp(prefix="chaos-cancel-parent-")
        try:
            ending = await run_parent(means, moment, marker, tmpdir)
            await tally.count_orphans(marker, what)
            files = os.listdir(tmpdir)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    tally.faults += 1
    busy.append(ending.workers_at_signal)
    if not tally.check(ending.returncode is not None, f"{what}the parent did not end"):
        return
    tally.check(not files, f"{what}temporary files left: {files}")
    if ending.report is not None:
        tally.check(
            not ending.report["leaked"],
            f"{what}the parent kept descriptors open: {ending.report['leaked']}",
        )
    last_words = ending.stderr.strip().splitlines()[-1:]
    if means == "cancel" or (means == "SIGINT" and ending.workers_at_signal):
        # Cancelled, or interrupted once its runtime was up: it must stop cleanly, with
        # the scope's end or a plain KeyboardInterrupt out of trio.run.
        tally.check(
            ending.returncode == 0 and ending.report is not None,
            f"{what}the parent exited with {ending.returncode}: {last_words}",
        )


async def scan_sees_a_marked_process(tally: Tally) -> None:
    """The /proc scan finds a process that carries a marker (else no orphan could show)."""
    marker = new_marker()
    env = {**os.environ, **marker_env(marker)}
    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            functools.partial(trio.run_process, ["sleep", "30"], env=env, check=False)
        )
        # Until the child has exec'd, /proc shows the environment it was forked with (the
        # marker is not in it yet): on a busy machine that can take a moment.
        with trio.move_on_after(5):
            while marked_processes(marker) != [process.pid]:  # noqa: ASYNC110 (polls /proc)
                await trio.sleep(0.01)
        tally.check(
            marked_processes(marker) == [process.pid], "the /proc scan finds a marked process"
        )
        process.kill()


async def main(tally: Tally, small: bool) -> None:
    """Every run, `AT_ONCE` at a time, the means taken in turn, the moments at random."""
    await scan_sees_a_marked_process(tally)
    rng = random.Random()
    runs = [(MEANS[index % len(MEANS)], rng.uniform(0.0, LATEST)) for index in range(RUNS[small])]
    limit = trio.CapacityLimiter(AT_ONCE)
    busy: list[int] = []
    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        for means, moment in runs:
            nursery.start_soon(one_run, tally, means, moment, limit, busy)
    by_means = collections.Counter(means for means, _ in runs)
    tally.note(
        f"{len(runs)} runs ({', '.join(f'{n} {m}' for m, n in by_means.items())}), moments "
        f"0-{LATEST:g} s, {time.monotonic() - started:.1f} s; "
        f"{sum(count > 0 for count in busy)} signals reached a parent with workers running"
    )


if __name__ == "__main__":
    run_script("cancel_parent", __doc__.splitlines()[0], main)
