"""Progress reports of a run: the `Progress` value, the `Tracker` that counts a run's items
and calls the ``progress=`` callable of `dispatch`, `dispatch_stream`, `run_pipe` and
`stream_pipe`, and `RichProgress`, a ready bar drawn with rich.

A progress callable is a plain sync function taking one `Progress`, called in the run's
own Trio task: it should do little and return at once. It is called once as the run
starts, then as items finish but at most once per `INTERVAL` seconds (0.1 s by
`trio.current_time()`), and once more, with ``finished`` True, as the run ends, however it
ends. So a run of millions of items makes about ten calls a second, not one per item. One
that raises is detached and the error logged (``slither_actors.progress``), as a telemetry
handler is; the run goes on without it.

This module imports nothing from the rest of the package but its argument checks, so every
layer may use it; rich is imported only when a `RichProgress` is made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sized
from types import TracebackType
from typing import Any

import attrs
import trio

from slither_actors._checks import check_callable, check_text

__all__ = [
    "INTERVAL",
    "Progress",
    "ProgressCallback",
    "RichProgress",
    "Tracker",
    "check_progress",
    "total_of",
]

INTERVAL = 0.1
"""Seconds between two reports, at least (the first and the final one excepted)."""

RICH_EXTRA = "pip install 'slither_actors[status]' (or 'slither_actors[examples]')"

_log = logging.getLogger("slither_actors.progress")


@attrs.frozen
class Progress:
    """How far a run has got: a report handed to a ``progress=`` callable.

    - ``done``: the items finished, succeeded or failed, that the run has handed over (to
      the list `dispatch` returns, to a stream's consumer, to a pipe's output or its error
      records);
    - ``failed``: those of them that failed: skipped under the skip policy in a dispatch
      (marked ``meta["skipped"]``), or ended in an error record in a pipe;
    - ``total``: the items the run will finish, if known: ``len(items)`` for an input that
      has a length (a list, a range), None for a generator or an async iterable (and for a
      pipe with a fan-out stage, whose items that leave are not its inputs);
    - ``elapsed``: seconds since the run started, by Trio's clock;
    - ``finished``: True on the last report of the run (which comes however the run ends:
      compare ``done`` with ``total`` to tell a run that halted).
    """

    done: int
    failed: int
    total: int | None
    elapsed: float
    finished: bool = False

    @property
    def items_per_second(self) -> float:
        """``done`` over ``elapsed`` (0.0 before any time has passed)."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def fraction(self) -> float | None:
        """``done`` over ``total``, from 0.0 to 1.0 (None when the total is unknown; 1.0 for
        a run of no items)."""
        if self.total is None:
            return None
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]


def check_progress(value: Any) -> ProgressCallback | None:
    """``value`` as a progress callable or None; else `ValueError` naming ``progress``."""
    checked: ProgressCallback | None = check_callable("progress", value, optional=True)
    return checked


def total_of(items: Any) -> int | None:
    """The length of ``items`` if it has one (a list, a range), else None."""
    return len(items) if isinstance(items, Sized) else None


@attrs.define(eq=False)
class Tracker:
    """The items of one run, counted as they finish and reported to ``callback``: once at
    `start`, then at most once per ``interval`` seconds from `add`, and once at `finish`."""

    callback: ProgressCallback | None
    total: int | None = None
    interval: float = INTERVAL
    done: int = 0
    failed: int = 0
    _started: float = 0.0
    _due: float = 0.0  # the earliest time of the next report from `add`
    _finished: bool = False

    @classmethod
    def start(cls, callback: ProgressCallback, total: int | None) -> Tracker:
        """A tracker for a run that starts now, its first report made."""
        tracker = cls(callback, total)
        tracker._started = trio.current_time()
        tracker._report(tracker._started, finished=False)
        return tracker

    def add(self, done: int, failed: int = 0) -> None:
        """Count ``done`` more items finished, ``failed`` of them failed; report if due."""
        self.done += done
        self.failed += failed
        now = trio.current_time()
        if now >= self._due:
            self._report(now, finished=False)

    def finish(self) -> None:
        """Make the final report (once; later calls do nothing)."""
        if not self._finished:
            self._finished = True
            self._report(trio.current_time(), finished=True)

    def _report(self, now: float, *, finished: bool) -> None:
        self._due = now + self.interval
        callback = self.callback
        if callback is None:
            return
        report = Progress(self.done, self.failed, self.total, now - self._started, finished)
        try:
            callback(report)
        except Exception:
            self.callback = None
            _log.exception("progress callable %r raised and has been detached", callback)


class RichProgress:
    """A progress bar drawn with rich, for the ``progress=`` of one run::

        with sa.RichProgress("scoring") as bar:
            results = await sa.dispatch(items, executor=executor, progress=bar)

    It shows the description, a bar (a pulse while the total is unknown), ``done/total``,
    the failed items, items/s and the time elapsed. It draws on ``console`` (default: a
    rich ``Console`` on stderr) from the block's start, or, used without ``with``, from the
    first report, and stops drawing at the final report or at `close`, whichever comes first.
    With ``display``, a ``rich.progress.Progress`` (`make_display` makes one with these
    columns), it adds its bar there and leaves drawing to whoever owns the display: that is
    how several runs, at once or one after another, show in one display.

    Needs rich: without it, making one raises `ImportError` saying how to install it
    (the ``status`` or ``examples`` extra). Raises `ValueError` if ``description`` is not a
    non-empty str.
    """

    def __init__(
        self,
        description: str = "items",
        *,
        console: Any = None,
        transient: bool = False,
        display: Any = None,
    ) -> None:
        check_text("description", description)
        self._own = display is None
        if display is None:
            display = self.make_display(console=console, transient=transient)
        self.display = display
        self._task = display.add_task(description, total=None, failed=0, rate=0.0)
        self._drawing = False
        self._closed = False

    @staticmethod
    def make_display(*, console: Any = None, transient: bool = False) -> Any:
        """A ``rich.progress.Progress`` with the columns of a `RichProgress` bar, drawing on
        ``console`` (default: stderr), for the ``display`` of several of them. Raises
        `ImportError` without rich."""
        try:
            from rich import console as rich_console, progress as rich_progress
        except ImportError as error:
            raise ImportError(
                f"RichProgress draws with rich, which is not installed: {RICH_EXTRA}"
            ) from error
        return rich_progress.Progress(
            rich_progress.TextColumn("[progress.description]{task.description}"),
            rich_progress.BarColumn(),
            rich_progress.MofNCompleteColumn(),
            rich_progress.TextColumn("{task.fields[failed]:,} failed"),
            rich_progress.TextColumn("{task.fields[rate]:,.0f} items/s"),
            rich_progress.TimeElapsedColumn(),
            console=console if console is not None else rich_console.Console(stderr=True),
            transient=transient,
        )

    def __call__(self, report: Progress) -> None:
        """Show ``report``: what a run calls with each of its reports."""
        total = report.total
        if report.finished and total is None:
            total = report.done  # the run is over: its count is the whole
        self.display.update(
            self._task,
            completed=report.done,
            total=total,
            failed=report.failed,
            rate=report.items_per_second,
        )
        if report.finished:
            self.close()
        else:
            self._start()

    def __enter__(self) -> RichProgress:
        self._start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop drawing (the bar stays on the terminal as last drawn, unless transient)."""
        self._closed = True
        if self._drawing:
            self._drawing = False
            self.display.stop()

    def _start(self) -> None:
        if self._own and not self._drawing and not self._closed:
            self._drawing = True
            self.display.start()
