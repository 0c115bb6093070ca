"""An application whose supervised actor crashes once and is restarted, for the tests of
the logs `sa.run` sets up (tests/test_logs.py). Its arguments: the log format (or "none"),
and "configured" to configure logging itself first."""

from __future__ import annotations

import logging
import sys

import attrs
import trio

import slither_actors as sa


@attrs.define
class Fragile(sa.Actor):
    async def handle_cast(self, message: object) -> None:
        raise ValueError("boom")


async def main(runtime: sa.Runtime) -> str:
    restarted = trio.Event()

    def on_start(event: object, measurements: dict, metadata: dict, config: object) -> None:
        if metadata["child"] == "fragile" and measurements["starts"] == 2:
            restarted.set()

    sa.telemetry.attach("restarted", [("slither", "supervisor", "child", "started")], on_start)
    await runtime.registry.lookup("fragile").cast("crash")
    await restarted.wait()  # the supervisor logged the crash, then started it again
    return "done"


if __name__ == "__main__":
    log_format = None if sys.argv[1] == "none" else sys.argv[1]
    if "configured" in sys.argv:
        logging.basicConfig(format="APP %(levelname)s %(name)s %(message)s")
    children = [sa.ChildSpec.actor("fragile", Fragile, name="fragile")]
    print(sa.run(main, children=children, log_format=log_format))  # type: ignore[arg-type]
