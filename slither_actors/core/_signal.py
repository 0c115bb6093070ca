"""`Signal`: wake the tasks waiting now; costs nothing while nobody waits."""

from __future__ import annotations

import trio

__all__ = ["Signal"]


class Signal:
    """A reusable wake-up call, for the check-then-wait pattern.

    A task checks its condition and, if it does not hold, awaits `wait`; whoever changes
    the condition calls `set`, which wakes every task waiting at that moment. A `set` with
    no waiter does nothing (the next waiter checks the condition first anyway). Unlike
    replacing a `trio.Event` after each set, no object is made unless someone waits, which
    matters on paths that run once per message.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: trio.Event | None = None

    def set(self) -> None:
        """Wake the tasks waiting now."""
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    async def wait(self) -> None:
        """Wait for the next `set`."""
        if self._event is None:
            self._event = trio.Event()
        await self._event.wait()
