"""The demos, runnable as ``python -m slither_actors.examples [name ...] [--all]``."""

from __future__ import annotations

from collections.abc import Callable

import attrs

__all__ = ["DEMOS", "Demo"]


@attrs.frozen
class Demo:
    """One demo: its name, what it shows, and the function that runs it."""

    name: str
    summary: str
    run: Callable[[], None]


def _supervision() -> None:
    from slither_actors.examples import supervision

    supervision.main()


def _batch_stats() -> None:
    from slither_actors.examples import batch_stats

    batch_stats.main()


def _text_analysis() -> None:
    from slither_actors.examples import text_analysis

    text_analysis.main()


def _workers() -> None:
    from slither_actors.examples import workers

    workers.main()


DEMOS: dict[str, Demo] = {
    demo.name: demo
    for demo in [
        Demo(
            "supervision",
            "a crashing actor under rest_for_one: restarts, escalation and telemetry",
            _supervision,
        ),
        Demo(
            "workers",
            "a pool of worker processes: a crash, a timeout, print capture, broadcast",
            _workers,
        ),
        Demo(
            "batch_stats",
            "dispatch with a poisoned dataset: halt, skip, and retry that isolates it",
            _batch_stats,
        ),
        Demo(
            "text_analysis",
            "a pipe over short texts: normalise, score in workers, route by mood; one poisoned",
            _text_analysis,
        ),
    ]
}
