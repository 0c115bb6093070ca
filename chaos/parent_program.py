"""The parent program that chaos/cancel_parent.py starts, then cancels, interrupts or kills.

It opens a runtime with a pool of 2 workers, whose environment carries ``--marker``, and
streams an endless dispatch through them until a cancel scope (``--cancel-after``) or a
signal ends it. Run as ``python chaos/parent_program.py --marker M --tmpdir DIR``.

When `trio.run` returns or raises (a cancel, or Ctrl-C's `KeyboardInterrupt`), it prints
one JSON line: how it ended and the file descriptors it holds that it did not hold before
the runtime started (every pipe to a worker must be closed by then). SIGTERM and SIGKILL
end it on the spot, as they end a program that installs no handler.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os

import trio
from _common import open_fds, pool_settings

import slither_actors as sa

# Seconds of work per item, so that the workers are busy when the end comes.
ITEM_SECONDS = 0.001


async def run_until_stopped(marker: str, cancel_after: float) -> None:
    """Dispatch forever, inside a scope cancelled after ``cancel_after`` seconds."""
    settings = pool_settings(
        marker, env={"CHAOS_ITEM_SECONDS": repr(ITEM_SECONDS), "TMPDIR": os.environ["TMPDIR"]}
    )
    with trio.move_on_after(cancel_after):
        async with sa.open_runtime(sa.Settings(pools=(settings,))):
            executor = sa.WorkerExecutor("worker_functions", "double_slowly")
            async with sa.dispatch_stream(
                itertools.count(), executor=executor, batch_size=16, max_in_flight=4
            ) as results:
                async for _ in results:
                    pass


def main() -> None:
    """Run until stopped; report how it ended and any descriptor left open."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marker", required=True)
    parser.add_argument("--cancel-after", type=float, default=math.inf)
    options = parser.parse_args()
    before = open_fds()
    try:
        trio.run(run_until_stopped, options.marker, options.cancel_after)
        ended = "cancelled"
    except KeyboardInterrupt:
        ended = "interrupted"
    after = open_fds()
    leaked = {fd: target for fd, target in after.items() if before.get(fd) != target}
    print(json.dumps({"ended": ended, "leaked": leaked}), flush=True)


if __name__ == "__main__":
    main()
