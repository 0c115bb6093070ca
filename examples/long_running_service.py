"""A long-running pipe: an endless source of events, a worker stage, a clean stop.

Sensor readings arrive in bursts on a timer, forever; a worker stage classifies them
(``long_running_service_worker.py``) and a router sends alerts to an output of their own.
Once a second it prints the throughput. Ctrl-C (SIGINT) or SIGTERM stops reading the source
and drains the pipe: every event already taken reaches an output, then a final count is
printed and the program exits 0.

Run it with ``python examples/long_running_service.py`` (from any directory); add
``--seconds N`` to have it stop by itself after N seconds.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import math
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import trio

import slither_actors as sa

HERE = Path(__file__).resolve().parent  # where long_running_service_worker.py is
TICK, BURST = 0.01, 10  # a burst of 10 readings every 10 ms: up to 1,000 a second
SETTINGS = sa.Settings(
    pools=(sa.PoolSettings(size=2, cwd=str(HERE), preload=("long_running_service_worker",)),)
)


class Sensors(sa.Pipe):
    stages = [
        sa.WorkerStage(
            "classify", module="long_running_service_worker", function="classify", batch_size=50
        ),
        sa.RouterStage("route", [(lambda item: item.payload["alert"], "alerts")]),
    ]
    outputs = ["alerts"]
    on_error = {"*": "skip"}  # a failed item becomes an error record; the service runs on


@attrs.define
class Tally:
    taken: int = 0  # readings the pipe has taken from the source
    failed: int = 0  # error records
    out: collections.Counter[str] = attrs.Factory(collections.Counter)  # per output

    async def deliver(self, output: str, item: sa.Item) -> None:
        self.out[output] += 1  # a real sink would store or forward the item here

    def record_error(self, record: sa.ErrorRecord) -> None:
        self.failed += 1


async def readings(tally: Tally) -> AsyncIterator[dict[str, Any]]:
    """Readings for ever: only a stop ends this source."""
    number = 0
    while True:
        await trio.sleep(TICK)  # a stop interrupts this wait, never a reading already made
        for _ in range(BURST):
            tally.taken += 1
            yield {"id": number, "sensor": number % 8, "celsius": float(number * 7 % 45)}
            number += 1


async def report(tally: Tally) -> None:
    before = 0
    for second in itertools.count(1):
        await trio.sleep(1)
        out = tally.out.total()
        print(
            f"{second:4d} s  {out - before:5d} events/s  ({tally.taken} taken, {out} out)",
            flush=True,
        )
        before = out


async def stop_asked(signals: AsyncIterator[int], seconds: float) -> str:
    """Wait for SIGINT or SIGTERM, or for ``seconds`` to pass; say which came first."""
    with trio.move_on_after(seconds):
        async for number in signals:
            return signal.Signals(number).name
    return f"{seconds:g} s are up"


async def serve(seconds: float) -> int:
    tally = Tally()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with sa.open_runtime(SETTINGS):
            service = await sa.start_pipe(
                Sensors, readings(tally), tally.deliver, on_error=tally.record_error
            )
            print("running: Ctrl-C or SIGTERM drains the pipe and stops", flush=True)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(report, tally)
                print(f"{await stop_asked(signals, seconds)}: draining", flush=True)
                await service.stop(drain=True, timeout=10)
                nursery.cancel_scope.cancel()
    outputs = ", ".join(f"{name} {count}" for name, count in sorted(tally.out.items()))
    print(
        f"stopped: {tally.taken} taken, {tally.out.total()} reached an output ({outputs}), "
        f"{tally.failed} failed"
    )
    return 1 if service.cut_short or service.error else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=math.inf, help="stop after this long")
    sys.exit(trio.run(serve, parser.parse_args().seconds))
