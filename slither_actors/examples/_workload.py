"""What every demo shares: one workload run three ways, timed, and checked the same way.

A demo is a `Workload`: the data (the same seeds for every mode), the slither_actors program,
a pure-Python threaded program in two modes, and the invariant checks that judge any of
them. `run_workload` times each mode over the same data and returns a `Report`.

- ``slither_actors``: the Trio parent owns the state, worker processes do the compute.
- ``safe_python``: threads, with locks or per-thread state merged at the end.
- ``unsafe_threaded``: threads sharing plain dicts and counters, with the read-modify-write
  races the seed describes. On an interpreter with a GIL they may not show: the report says
  so rather than counting on them.
"""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

import slither_actors as sa

SLITHER = "slither_actors"
SAFE = "safe_python"
UNSAFE = "unsafe_threaded"
MODES = (SLITHER, SAFE, UNSAFE)
SIZES = ("small", "full")

__all__ = [
    "MODES",
    "SAFE",
    "SIZES",
    "SLITHER",
    "UNSAFE",
    "Check",
    "Options",
    "Report",
    "Run",
    "Workload",
    "check",
    "interpreter",
    "missing_modules",
    "run_in_threads",
    "run_workload",
    "split",
]


@attrs.frozen
class Check:
    """One invariant as one mode's run met it: its name, PASS or FAIL, and the figures."""

    name: str
    passed: bool
    detail: str = ""


def check(name: str, passed: bool, detail: str = "") -> Check:
    """A `Check`; ``passed`` is made a plain bool (numpy's bools are not JSON)."""
    return Check(name, bool(passed), detail)


@attrs.define
class Run:
    """One mode's run of a workload: how long the work took, and what was checked."""

    mode: str
    seconds: float
    items: int
    checks: list[Check]
    figures: dict[str, Any] = attrs.Factory(dict)

    @property
    def items_per_second(self) -> float:
        """Items over wall time (0 if the run took no measurable time)."""
        return self.items / self.seconds if self.seconds > 0 else 0.0

    @property
    def passed(self) -> bool:
        """Whether every check of this run passed."""
        return all(one.passed for one in self.checks)


@attrs.define
class Report:
    """A demo's runs, the interpreter that ran them, and notes for the reader."""

    demo: str
    size: str
    workers: int
    runs: list[Run] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        """True when the demo ran and every check passed, but those of ``unsafe_threaded``,
        which exists to show what shared state without locks does: its failures are the
        point, not a fault of the demo."""
        return self.error is None and all(run.passed for run in self.runs if run.mode != UNSAFE)

    def run(self, mode: str) -> Run | None:
        """The run of ``mode``, if it ran."""
        return next((run for run in self.runs if run.mode == mode), None)

    def speedup(self, run: Run) -> float | None:
        """How many times faster than ``safe_python`` ``run`` was (None without it)."""
        safe = self.run(SAFE)
        if safe is None or run.seconds <= 0:
            return None
        return safe.seconds / run.seconds

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        return {
            "demo": self.demo,
            "size": self.size,
            "workers": self.workers,
            "passed": self.passed,
            "error": self.error,
            "interpreter": interpreter(),
            "runs": [
                {
                    "mode": run.mode,
                    "seconds": round(run.seconds, 4),
                    "items": run.items,
                    "items_per_second": round(run.items_per_second, 1),
                    "speedup_over_safe_python": _rounded(self.speedup(run)),
                    "passed": run.passed,
                    "checks": [attrs.asdict(one) for one in run.checks],
                    "figures": run.figures,
                }
                for run in self.runs
            ],
            "notes": self.notes,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@attrs.frozen
class Options:
    """How to run the demos: the size, the workers (and baseline threads), the modes, and
    where progress goes (``None``: nowhere)."""

    size: str = "full"
    workers: int = 2
    modes: tuple[str, ...] = MODES
    progress: Any = None
    executor: str = "processes"  # what the pools' workers are: "processes", or "ray" actors

    def settings_for(self, workload: Workload) -> sa.Settings:
        """The workload's settings, every pool's workers made ``executor``."""
        settings = workload.settings(self)
        if self.executor == "processes":
            return settings
        pools = tuple(attrs.evolve(pool, backend=self.executor) for pool in settings.pools)
        return attrs.evolve(settings, pools=pools)

    def bar(self, description: str) -> Callable[[sa.Progress], None] | None:
        """A progress bar for one run of the slither_actors program, to pass as its
        ``progress=``: shown on the live board, if there is one, else None (no bar)."""
        return None if self.progress is None else self.progress.bar(description)


@attrs.frozen
class Workload:
    """A demo: its data, its three programs and its checks.

    - ``make_data(size)``: the inputs, the same for every mode (seeded).
    - ``settings(options)``: the runtime's `Settings` for the slither_actors run.
    - ``slither(runtime, data, options)``: the slither_actors program; returns an outcome.
    - ``threaded(data, threads, safe)``: the pure-Python program; returns an outcome.
    - ``check(data, outcome)``: the invariants, the same for every mode.
    - ``count(data)``: how many items the run handles, for items/s.
    - ``figures(data, outcome)``: extra figures for the report (megapixels/s, memory).
    - ``stages``: the stage names, in order, for the progress board.
    """

    name: str
    summary: str
    make_data: Callable[[str], Any]
    settings: Callable[[Options], sa.Settings]
    slither: Callable[[sa.Runtime, Any, Options], Awaitable[Any]]
    threaded: Callable[[Any, int, bool], Any]
    check: Callable[[Any, Any], list[Check]]
    count: Callable[[Any], int]
    figures: Callable[[Any, Any], dict[str, Any]] = lambda data, outcome: {}
    stages: tuple[str, ...] = ()


def missing_modules(needs: dict[str, str]) -> list[str]:
    """The pip names of the modules in ``needs`` that this interpreter cannot import."""
    return [
        pip_name for module, pip_name in needs.items() if importlib.util.find_spec(module) is None
    ]


def interpreter() -> dict[str, Any]:
    """Which Python runs the demo and its baselines, and whether threads run Python at once."""
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    gil_check = getattr(sys, "_is_gil_enabled", None)
    gil_enabled = gil_check() if gil_check is not None else True
    return {
        "implementation": sys.implementation.name,
        "version": ".".join(map(str, sys.version_info[:3])),
        "executable": sys.executable,
        "free_threaded": free_threaded,
        "gil_enabled": gil_enabled,
    }


def split(items: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    """``items`` cut into ``parts`` contiguous slices of near-equal length."""
    size, extra = divmod(len(items), parts)
    slices, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        slices.append(items[start:end])
        start = end
    return slices


def run_in_threads(functions: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run each function in a thread of its own, all at once; their results in order.

    The first exception any of them raised is raised once all have ended.
    """
    results: list[Any] = [None] * len(functions)
    errors: list[BaseException] = []

    def runner(index: int) -> None:
        try:
            results[index] = functions[index]()
        except BaseException as error:  # handed to the caller below
            errors.append(error)

    threads = [threading.Thread(target=runner, args=(index,)) for index in range(len(functions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def run_workload(workload: Workload, options: Options) -> Report:
    """Run ``workload`` in each mode of ``options`` over the same data; the `Report`."""
    import trio

    report = Report(workload.name, options.size, options.workers)
    data = workload.make_data(options.size)
    items = workload.count(data)
    if SLITHER in options.modes:
        outcome, seconds, startup = trio.run(_slither_run, workload, data, options)
        figures = {"startup_seconds": round(startup, 3), **workload.figures(data, outcome)}
        report.runs.append(Run(SLITHER, seconds, items, workload.check(data, outcome), figures))
    for mode, safe in ((SAFE, True), (UNSAFE, False)):
        if mode in options.modes:
            report.runs.append(_threaded_run(workload, data, options.workers, mode, safe, items))
    report.notes.extend(_notes(report))
    return report


def _threaded_run(
    workload: Workload, data: Any, threads: int, mode: str, safe: bool, items: int
) -> Run:
    """A baseline's run. Unsafe threads may also crash outright (a dict changed size while
    another thread read it): that is a failed check of the run, not of the demo."""
    started = time.perf_counter()
    try:
        outcome = workload.threaded(data, threads, safe)
    except Exception as error:
        if safe:
            raise
        seconds = time.perf_counter() - started
        crashed = check("ran to the end", False, f"{type(error).__name__}: {error}")
        return Run(mode, seconds, items, [crashed])
    seconds = time.perf_counter() - started
    figures = workload.figures(data, outcome)
    return Run(mode, seconds, items, workload.check(data, outcome), figures)


async def _slither_run(workload: Workload, data: Any, options: Options) -> tuple[Any, float, float]:
    """The slither_actors program in a runtime of its own; the time to start the runtime
    (worker processes, stores) is reported apart from the work's."""
    started = time.perf_counter()
    async with sa.open_runtime(options.settings_for(workload)) as runtime:
        startup = time.perf_counter() - started
        if options.progress is not None:
            with options.progress.watching(workload):
                began = time.perf_counter()
                outcome = await workload.slither(runtime, data, options)
        else:
            began = time.perf_counter()
            outcome = await workload.slither(runtime, data, options)
        seconds = time.perf_counter() - began
    return outcome, seconds, startup


def _notes(report: Report) -> list[str]:
    notes = []
    unsafe = report.run(UNSAFE)
    about = interpreter()
    python = f"{about['implementation']} {about['version']}"
    if unsafe is not None:
        if about["gil_enabled"]:
            kind = "free-threaded, with the GIL on" if about["free_threaded"] else "with a GIL"
            shown = "did not show" if unsafe.passed else "showed even so"
            notes.append(
                f"The baselines ran on {python} ({kind}): one thread runs Python at a time, so "
                f"the races of unsafe_threaded are rare, and here they {shown}. A PASS in that "
                "row is luck, not safety."
            )
        else:
            notes.append(f"The baselines ran on {python}, free-threaded: threads run at once.")
        if not unsafe.passed:
            failed = ", ".join(one.name for one in unsafe.checks if not one.passed)
            notes.append(f"unsafe_threaded broke: {failed} (shared state without locks).")
    return notes
