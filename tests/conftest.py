"""Shared test helpers: a journaling actor that can be told to crash, hang or stop."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
import trio.testing

import slither_actors as sa


class Crash(Exception):
    """The failure test actors raise on purpose."""


@attrs.define
class Journaling(sa.Actor):
    """Writes ("init"|"terminate", label[, reason]) into a shared journal.

    Casts: "crash" raises `Crash`; ("hang", seconds) sleeps in the handler; "stop" stops.
    Calls: "ping" → "pong"; "crash" raises `Crash`; ("sleep", seconds) sleeps then replies.
    """

    label: str
    journal: list[tuple[Any, ...]]
    init_error: BaseException | None = None

    async def init(self) -> None:
        self.journal.append(("init", self.label))
        if self.init_error is not None:
            raise self.init_error

    async def handle_call(self, message: Any) -> Any:
        match message:
            case "ping":
                return "pong"
            case "crash":
                raise Crash(f"{self.label} crashed on purpose")
            case ("sleep", seconds):
                await trio.sleep(seconds)
                return "slept"
        raise AssertionError(message)

    async def handle_cast(self, message: Any) -> None:
        match message:
            case "crash":
                raise Crash(f"{self.label} crashed on purpose")
            case ("hang", seconds):
                await trio.sleep(seconds)
            case "stop":
                self.stop()

    async def terminate(self, reason: sa.Reason) -> None:
        self.journal.append(("terminate", self.label, reason))


def journaling_child(label: str, journal: list[tuple[Any, ...]], **options: Any) -> sa.ChildSpec:
    """A child spec running a fresh `Journaling` actor named ``label``."""
    return sa.ChildSpec.actor(label, lambda: Journaling(label, journal), **options)


def child_value(supervisor: sa.SupervisorRef, child_id: str) -> Any:
    """The started value (e.g. the ActorRef) of a supervisor's child right now."""
    for child in supervisor.which_children():
        if child.id == child_id:
            return child.value
    raise LookupError(child_id)


def inits(journal: list[tuple[Any, ...]]) -> list[str]:
    """The labels of every init in the journal, in order."""
    return [entry[1] for entry in journal if entry[0] == "init"]


def terminates(journal: list[tuple[Any, ...]]) -> list[str]:
    """The labels of every terminate in the journal, in order."""
    return [entry[1] for entry in journal if entry[0] == "terminate"]


async def settle() -> None:
    """Let every task run until all are blocked (restarts done, messages handled)."""
    await trio.testing.wait_all_tasks_blocked()


@pytest.fixture
def journal() -> list[tuple[Any, ...]]:
    return []
