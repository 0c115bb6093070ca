"""chaos bad_inputs: every bad input the API takes, each thrown while good calls run beside it.

The cases are in chaos/bad_input_cases.py: worker functions that misbehave (unknown, broken
on import, wrong results, SystemExit, garbage on stdout, …), bad arguments (targets,
payloads that cannot travel or are too big, NaN/0/negative timeouts, non-str session ids),
invalid settings and pipe declarations, views of another session, stopped actors and pools,
and fake children that send garbage or a hello of the wrong version. Each runs on a runtime
whose pool has two tasks making good calls all the while. Promises, per case:

- one clear error: an exception of a meaningful type whose message names the problem (or,
  where nothing is wrong for the caller, the right result);
- nothing else lost: every good call beside it succeeds, the pool is not restarted and is
  back to full size, and a worker that met an error (not a crash) lives on;
- once the runtime has stopped, no worker process (fake ones included) is left.

A case known to break because of a fault listed in issue 12 says so in its verdict.
``python chaos/bad_inputs.py`` runs every case 5 times; ``--small`` once.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio
from _common import (
    CHAOS_DIR,
    Neighbours,
    Tally,
    new_marker,
    pool_settings,
    process_alive,
    run_script,
    wait_until,
)
from bad_input_cases import CASES, Case
from bad_input_throws import MAX_FRAME, Scene

import slither_actors as sa

ROUNDS = {False: 5, True: 1}
CASE_LIMIT = 10.0  # seconds a case may take to give its answer
WORKERS = 2


def judge(case: Case, outcome: Any, answered: bool) -> str | None:
    """What is wrong with ``outcome`` (a value or an exception), or None if it is right."""
    if not answered:
        return f"no answer within {CASE_LIMIT:g} s"
    text = f"{type(outcome).__name__}: {str(outcome)[:300]}"
    if case.expected is None:
        if isinstance(outcome, BaseException):
            return f"raised {text}"
        return None if case.check(outcome) else f"returned {outcome!r:.300}"
    if not isinstance(outcome, BaseException):
        return f"returned {outcome!r:.200} instead of raising"
    if not isinstance(outcome, case.expected):
        wanted = " or ".join(kind.__name__ for kind in case.expected)
        return f"expected {wanted}, got {text}"
    missing = [word for word in case.words if word not in str(outcome)]
    if missing:
        return f"the message does not name {missing}: {text}"
    return None


def pool_is_full(pool: sa.WorkerPool) -> bool:
    """Every slot has a live worker, alive in /proc too."""
    workers = pool.workers()
    return len(workers) == WORKERS and all(process_alive(worker.pid) for worker in workers)


async def ready_pool(runtime: sa.Runtime) -> sa.WorkerPool:
    """The runtime's default pool once all its workers are live (waiting out a restart)."""
    with trio.fail_after(CASE_LIMIT):
        while True:
            try:
                pool = await runtime.pool()
                await pool.wait_until_ready()
                return pool
            except sa.PoolClosed:
                await trio.sleep(0.05)


async def run_case(tally: Tally, scene: Scene, case: Case) -> None:
    """Throw one case with good calls beside it; judge the outcome and the damage."""
    pool = scene.pool
    before = {worker.worker_id: worker.pid for worker in pool.workers()}
    neighbours = Neighbours(pool, tally, repr(case.name))
    outcome: Any = None
    async with trio.open_nursery() as nursery:
        neighbours.start(nursery)
        with trio.move_on_after(CASE_LIMIT) as limit:
            try:
                outcome = await case.throw(scene)
            except Exception as error:  # what the case must raise, or what it must not
                outcome = error
        await trio.sleep(0.02)  # good calls go on a moment after the bad input too
        nursery.cancel_scope.cancel()
    tally.faults += 1
    known = f" (issue 12, fault {case.fault})" if case.fault else ""
    wrong = judge(case, outcome, not limit.cancelled_caught)
    tally.check(wrong is None, f"{case.name}: {wrong}{known}")
    if not tally.check(not pool.closed, f"{case.name}: the pool was stopped{known}"):
        return
    full = await wait_until(lambda: pool_is_full(pool), 5.0)
    tally.check(full, f"{case.name}: the pool is not back to {WORKERS} workers{known}")
    if case.survives and full:
        after = {worker.worker_id: worker.pid for worker in pool.workers()}
        tally.check(after == before, f"{case.name}: a worker was replaced{known}")


def write_fake_python(directory: str) -> str:
    """An executable that runs chaos/fake_worker.py with this interpreter, whatever the
    arguments (a pool's ``python`` setting)."""
    path = Path(directory) / "fake-python"
    fake = CHAOS_DIR / "fake_worker.py"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


async def run_cases(tally: Tally, cases: list[Case], marker: str, fake_python: str) -> None:
    """Run ``cases`` in order, on a fresh runtime whenever one dies under a case."""
    settings = sa.Settings(
        stores=("session_store:SessionStore",),
        pools=(
            pool_settings(
                marker,
                size=WORKERS,
                max_frame=MAX_FRAME,
                call_timeout=5.0,
                max_restarts=len(cases) + 10,
                max_seconds=3600.0,
            ),
        ),
    )
    remaining = list(cases)
    while remaining:
        case = remaining[0]
        try:
            async with sa.open_runtime(settings) as runtime:
                scene = Scene(runtime, await ready_pool(runtime), marker, fake_python)
                while remaining:
                    case = remaining.pop(0)
                    await run_case(tally, scene, case)
                    scene.pool = await ready_pool(runtime)
        except Exception as error:
            known = f" (issue 12, fault {case.fault})" if case.fault else ""
            tally.broken.append(
                f"{case.name}: the runtime died: {type(error).__name__}: {error}{known}"
            )


async def main(tally: Tally, small: bool) -> None:
    """Every case, `ROUNDS` times over."""
    marker = new_marker()
    with tempfile.TemporaryDirectory(prefix="chaos-bad-inputs-") as directory:
        fake_python = write_fake_python(directory)
        await run_cases(tally, CASES * ROUNDS[small], marker, fake_python)
    await tally.count_orphans(marker)
    faults = sorted({case.fault for case in CASES if case.fault})
    tally.note(
        f"{len(CASES)} kinds of bad input, {ROUNDS[small]} round(s); "
        f"cases that catch issue 12's faults {faults} say so when they break"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run_script("bad_inputs", __doc__.splitlines()[0], main)
