"""``python -m slither_actors.examples``: list the demos or run some of them.

Exit status 0 only when every demo that ran passed every invariant check (those of the
``unsafe_threaded`` baseline excepted: its failures are what it is there to show); 1
otherwise, a demo that could not run (its extra missing) included; 2 for a bad command line;
130 when interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
import traceback
from typing import Any

from slither_actors.examples import DEMOS, EXTRA_COMMAND, Demo
from slither_actors.examples._present import ProgressBoard, summary
from slither_actors.examples._workload import (
    MODES,
    SAFE,
    SIZES,
    SLITHER,
    UNSAFE,
    Options,
    Report,
    interpreter,
    missing_modules,
    run_workload,
)


def _workers(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"--workers must be a whole number of 1 or more, got {text!r}"
        )
    return count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m slither_actors.examples",
        description="Run slither_actors demos beside pure-Python baselines. Without a name, "
        "list them.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="demos to run")
    parser.add_argument("--all", action="store_true", help="run every demo")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--no-baseline", action="store_true", help="run slither_actors only")
    modes.add_argument(
        "--baseline-only", action="store_true", help="run the pure-Python baselines only"
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=os.cpu_count() or 2,
        metavar="N",
        help="worker processes, and threads in the baselines (default: one per CPU)",
    )
    parser.add_argument(
        "--size", choices=SIZES, default="full", help="full: the seed's sizes; small: seconds"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per demo instead of tables"
    )
    parser.add_argument(
        "--executor",
        choices=("processes", "ray"),
        default="processes",
        help="the workers: local processes, or Ray actors (pip install 'slither_actors[ray]')",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the demos the command line names; the exit status."""
    parser = _parser()
    options = parser.parse_args(argv)
    unknown = [name for name in options.names if name not in DEMOS]
    if unknown:
        parser.error(f"unknown demo {', '.join(unknown)}; choose from {', '.join(DEMOS)}")
    names = list(DEMOS) if options.all else list(dict.fromkeys(options.names))
    if not names:
        print("demos (run one with: python -m slither_actors.examples NAME, or --all):")
        for demo in DEMOS.values():
            print(f"  {demo.name:<15} {demo.summary}")
        return 0
    modes = (
        (SLITHER,) if options.no_baseline else (SAFE, UNSAFE) if options.baseline_only else MODES
    )
    run_options = Options(
        options.size, options.workers, modes, _board(options.json), options.executor
    )
    passed = True
    for name in names:
        report = _run(DEMOS[name], run_options, as_json=options.json)
        if report is None:
            continue
        passed = passed and report.passed
        if options.json:
            print(json.dumps(report.to_json()), flush=True)
        else:
            print(summary(report), end="\n\n", flush=True)
    return 0 if passed else 1


def _board(as_json: bool) -> ProgressBoard | None:
    """The live board, only on a terminal, only with rich, never under --json."""
    if as_json or not sys.stdout.isatty():
        return None
    try:
        from rich.console import Console
    except ImportError:
        return None
    return ProgressBoard(Console())


def _run(demo: Demo, options: Options, *, as_json: bool) -> Report | None:
    """One demo's report (None for a story under --baseline-only: it has no baseline)."""
    report = Report(demo.name, options.size, options.workers)
    missing = missing_modules(demo.needs)
    if missing:
        report.error = (
            f"{demo.name} needs {', '.join(missing)} (the 'examples' extra), which "
            f"{sys.executable} cannot import. Install it from a checkout of slither_actors "
            f"with: {sys.executable} -m {EXTRA_COMMAND}  (or: {sys.executable} -m pip "
            f"install {' '.join(missing)})"
        )
        print(report.error, file=sys.stderr)
        return report
    if demo.views and options.executor == "ray" and SLITHER in options.modes:
        report.error = (
            f"{demo.name}'s workers call store views, which Ray actors cannot reach "
            f"(docs/scale-out.md): run it with --executor processes"
        )
        print(report.error, file=sys.stderr)
        return report
    if demo.kind == "story":
        return None if SLITHER not in options.modes else _story(demo, report, as_json=as_json)
    if not as_json:
        print(f"=== {demo.name}: {demo.summary}", flush=True)
    try:
        return run_workload(demo.load().WORKLOAD, options)
    except Exception as error:
        traceback.print_exc()
        report.error = f"{type(error).__name__}: {error}"
        return report


def _story(demo: Demo, report: Report, *, as_json: bool) -> Report:
    """Run a story demo; under --json its printout goes into the report's notes."""
    if not as_json:
        print(f"=== {demo.name}: {demo.summary}", flush=True)
    printed: Any = io.StringIO() if as_json else sys.stdout
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(printed):
            demo.load().main()
    except Exception as error:
        traceback.print_exc()
        report.error = f"{type(error).__name__}: {error}"
    report.notes.append(
        f"ran in {time.perf_counter() - started:.2f} s on {interpreter()['version']}"
    )
    if as_json:
        report.notes.extend(printed.getvalue().splitlines())
    return report


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the runtime has stopped its workers on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
