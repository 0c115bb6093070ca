"""How the demos show themselves: a live board while they run, on a terminal and with rich
installed (a progress bar per run, then a row per stage), and a summary of each demo's runs
and checks once it is done."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import attrs

import slither_actors as sa
from slither_actors.examples._workload import MODES, SLITHER, Report, Workload

__all__ = ["ProgressBoard", "summary"]

_PIPE_STAGE = ("slither", "pipe", "stage")
_BATCH = ("slither", "dispatch", "batch")
_EVENTS = [
    (*_PIPE_STAGE, "stop"),
    (*_PIPE_STAGE, "exception"),
    (*_BATCH, "start"),
    (*_BATCH, "stop"),
    (*_BATCH, "exception"),
]


def summary(report: Report) -> str:
    """The runs of ``report`` as text: one table of times, one of checks, then notes."""
    sized = f" ({report.size}, {report.workers} workers)" if report.runs else ""
    lines = [f"--- {report.demo}{sized}"]
    if report.error is not None:
        lines.append(f"FAILED to run: {report.error}")
    if report.runs:
        rows = [["mode", "wall time", "items", "items/s", "vs safe_python"]]
        for run in report.runs:
            speedup = report.speedup(run)
            rows.append(
                [
                    run.mode,
                    f"{run.seconds:.3f} s",
                    f"{run.items:,}",
                    f"{run.items_per_second:,.0f}",
                    "" if speedup is None else f"{speedup:.2f}x",
                ]
            )
        lines.extend(_table(rows))
        lines.append("")
        lines.extend(_table(_check_rows(report)))
        for run in report.runs:
            for one in run.checks:
                if one.detail and (run.mode == SLITHER or not one.passed):
                    lines.append(f"  [{run.mode}] {one.name}: {one.detail}")
            shown = {key: value for key, value in run.figures.items() if key != "startup_seconds"}
            if shown:
                figures = ", ".join(f"{key} {value}" for key, value in shown.items())
                lines.append(f"  [{run.mode}] {figures}")
    lines.extend(report.notes)
    lines.append(f"result: {'PASS' if report.passed else 'FAIL'}")
    return "\n".join(lines)


def _check_rows(report: Report) -> list[list[str]]:
    modes = [mode for mode in MODES if report.run(mode) is not None]
    names: list[str] = []
    for run in report.runs:
        names.extend(one.name for one in run.checks if one.name not in names)
    rows = [["invariant", *modes]]
    for name in names:
        row = [name]
        for mode in modes:
            found = [one for one in report.run(mode).checks if one.name == name]  # type: ignore[union-attr]
            row.append("-" if not found else "PASS" if found[0].passed else "FAIL")
        rows.append(row)
    return rows


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        cells = [
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
        if number == 0:
            lines.append("  " + "  ".join("-" * width for width in widths))
    return lines


@attrs.define
class _StageCount:
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    first: float | None = None
    last: float = 0.0

    def count(self, items: int, failed: bool = False) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.last = now
        self.done += items
        self.failed += items if failed else 0

    @property
    def rate(self) -> float:
        span = (self.last - self.first) if self.first is not None else 0.0
        return self.done / span if span > 0 else 0.0


@attrs.define
class ProgressBoard:
    """A live board on the terminal: a progress bar for each run a demo hands a `bar` to
    (its ``progress=``), then a table, one row per stage: items done, items/s, batches'
    items in flight, and items waiting (done by the stage before, not yet by this one).

    The table counts from telemetry: a pipe stage's spans, and dispatch's batch spans for a
    dispatch run outside any pipe. Needs rich; made only when stdout is a terminal.
    """

    console: Any
    stages: dict[str, _StageCount] = attrs.Factory(dict)
    order: list[str] = attrs.Factory(list)
    bars: Any = None  # the runs' bars while the board is shown (a rich Progress)

    def bar(self, description: str) -> sa.RichProgress | None:
        """A bar for one run, shown on the board, to pass as its ``progress=`` (None while
        the board is not shown)."""
        return None if self.bars is None else sa.RichProgress(description, display=self.bars)

    @contextlib.contextmanager
    def watching(self, workload: Workload) -> Iterator[None]:
        """Show the board while the block runs the slither_actors program of ``workload``."""
        from rich.live import Live

        self.stages.clear()
        self.order[:] = list(workload.stages)
        self.bars = sa.RichProgress.make_display(console=self.console)
        handler_id = f"examples-progress-{workload.name}"
        sa.telemetry.attach(handler_id, _EVENTS, self._on_event)
        try:
            with Live(
                console=self.console,
                get_renderable=self._render_board,
                refresh_per_second=4,
                transient=True,
            ):
                yield
        finally:
            sa.telemetry.detach(handler_id)
            self.bars = None

    def _stage(self, name: str) -> _StageCount:
        if name not in self.stages:
            self.stages[name] = _StageCount()
            if name not in self.order:
                self.order.append(name)
        return self.stages[name]

    def _on_event(self, event: Any, measurements: Any, metadata: Any, config: Any) -> None:
        size = int(metadata.get("size") or 0)
        kind = event[-1]
        if event[:3] == _PIPE_STAGE:
            self._stage(str(metadata["stage"])).count(size, failed=kind == "exception")
            return
        name = str(metadata.get("stage") or metadata.get("executor"))
        stage = self._stage(name)
        if kind == "start":
            stage.in_flight += size
            return
        stage.in_flight -= size
        if metadata.get("stage") is None:  # outside a pipe: the batches are the progress
            stage.count(size, failed=kind == "exception")

    def _render_board(self) -> Any:
        from rich.console import Group

        return Group(self.bars, self._render()) if self.bars is not None else self._render()

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(title="progress", title_justify="left")
        for column in ("stage", "done", "failed", "items/s", "in flight", "waiting"):
            table.add_column(column, justify="left" if column == "stage" else "right")
        before: _StageCount | None = None
        for name in self.order:
            stage = self.stages.get(name, _StageCount())
            arrived = 0 if before is None else before.done - before.failed
            waiting = "" if before is None else f"{max(0, arrived - stage.done):,}"
            table.add_row(
                name,
                f"{stage.done:,}",
                f"{stage.failed:,}",
                f"{stage.rate:,.0f}",
                f"{stage.in_flight:,}",
                waiting,
            )
            before = stage
        return table
