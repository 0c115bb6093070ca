"""Quick start: a counter actor, supervised and named, inside a runtime.

Run it with ``python examples/quickstart.py``.
"""

from __future__ import annotations

from typing import Any

import attrs

import slither_actors as sa


@attrs.define
class Counter(sa.Actor):
    """Adds to a running total, one message at a time (so no locks)."""

    value: int = 0

    async def handle_call(self, message: Any) -> Any:
        match message:
            case ("add", amount):
                self.value += amount
                return self.value
            case "get":
                return self.value
        raise ValueError(f"Counter does not understand {message!r}")


async def main(runtime: sa.Runtime) -> None:
    counter = runtime.registry.lookup("counter")
    await counter.call(("add", 2))
    print("counter is at", await counter.call(("add", 3)))
    try:
        await counter.call("explode")  # the caller gets the error, the actor crashes...
    except ValueError as error:
        print("the call failed:", error)
    counter = await runtime.registry.wait_for("counter")  # ...and its supervisor restarts it
    print("after the restart the counter is at", await counter.call("get"))


if __name__ == "__main__":
    sa.run(main, children=[sa.ChildSpec.actor("counter", Counter, name="counter")])
