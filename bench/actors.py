"""Actor messaging speed: slither_actors side by side with a bare trio channel and pykka.

- Call round trip, median and p90 of single calls made one at a time: `ActorRef.call` to an
  echo actor; the floor, a request on a trio memory channel answered on a reply channel;
  pykka's ``ThreadingActor`` answering ``actor_ref.ask`` (no proxy).
- Cast throughput, messages per second until the receiver has handled them all: `ActorRef.cast`
  into a counting actor with the default mailbox, closed by a call; the floor, a trio memory
  channel with the same buffer; pykka's ``tell``, closed by an ``ask``.

The cast "floor" is a plain ``await channel.send()``, which lets the scheduler run after every
message. Our ``cast`` is a cancellation point on every call but yields only when the mailbox
is full, and an actor takes queued messages without a scheduler round each, so a burst costs
one context switch, not one per message: that is why ours can beat that floor.

Rounds are interleaved and every figure is the median over the rounds (the machine is shared
and noisy). Nothing is asserted: this is a report. Run it from the repository root::

    python bench/actors.py           # full run, under a minute
    python bench/actors.py --quick   # smoke run, a few seconds

pykka is optional (``pip install -e .[bench]``); without it, its rows are skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

import attrs
import trio

import slither_actors

try:
    import pykka
except ImportError:
    pykka = None  # type: ignore[assignment]

MAILBOX_SIZE = slither_actors.Actor.mailbox_size
MESSAGE = "ping"
COUNT = "count"  # the call that asks a counting actor how many casts it has handled
FLOOR, OURS, PYKKA = "bare trio channel", "slither_actors", "pykka"


@attrs.define
class EchoCounter(slither_actors.Actor):
    """Replies to a call with its message (or, for `COUNT`, the count); counts casts."""

    handled: int = 0

    async def handle_call(self, message: Any) -> Any:
        return self.handled if message == COUNT else message

    async def handle_cast(self, message: Any) -> None:
        self.handled += 1


async def time_calls(call: Callable[[Any], Awaitable[Any]], count: int) -> list[int]:
    """Make ``count`` calls one after another, after a short warm-up; return each one's ns."""
    for _ in range(count // 10):
        await call(MESSAGE)
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        await call(MESSAGE)
        samples.append(time.perf_counter_ns() - start)
    return samples


async def actor_round(calls: int, casts: int) -> tuple[list[int], float]:
    """One round of slither_actors: call round trips (ns each), then casts (messages/s)."""
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(slither_actors.run_actor, EchoCounter())
        samples = await time_calls(ref.call, calls)
        start = time.perf_counter_ns()
        for number in range(casts):
            await ref.cast(number)
        await ref.call(COUNT)
        elapsed = time.perf_counter_ns() - start
        await ref.stop()
    return samples, casts * 1e9 / elapsed


async def channel_calls(count: int) -> list[int]:
    """Round trips of a request channel to a server task and a reply channel back: the floor."""
    request_send, request_receive = trio.open_memory_channel[Any](MAILBOX_SIZE)
    reply_send, reply_receive = trio.open_memory_channel[Any](0)

    async def serve() -> None:
        async for message in request_receive:
            await reply_send.send(message)

    async def call(message: Any) -> Any:
        await request_send.send(message)
        return await reply_receive.receive()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        samples = await time_calls(call, count)
        await request_send.aclose()
    return samples


async def channel_casts(count: int) -> float:
    """Messages per second through a trio memory channel with the mailbox's buffer: the floor."""
    send_channel, receive_channel = trio.open_memory_channel[int](MAILBOX_SIZE)

    async def consume() -> None:
        async for _ in receive_channel:
            pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        start = time.perf_counter_ns()
        async with send_channel:
            for number in range(count):
                await send_channel.send(number)
    return count * 1e9 / (time.perf_counter_ns() - start)


async def channel_round(calls: int, casts: int) -> tuple[list[int], float]:
    """One round of the floor: channel round trips (ns each), then channel sends (messages/s)."""
    return await channel_calls(calls), await channel_casts(casts)


def pykka_round(calls: int, casts: int) -> tuple[list[int], float]:
    """One round of pykka: ``ask`` round trips (ns each), then ``tell`` (messages/s)."""

    class PykkaEchoCounter(pykka.ThreadingActor):
        """`EchoCounter` for pykka: echoes asks, counts tells and answers `COUNT`."""

        handled = 0

        def on_receive(self, message: Any) -> Any:
            if message == COUNT:
                return self.handled
            self.handled += 1
            return message

    actor_ref = PykkaEchoCounter.start()
    for _ in range(calls // 10):
        actor_ref.ask(MESSAGE)
    samples = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        actor_ref.ask(MESSAGE)
        samples.append(time.perf_counter_ns() - start)
    start = time.perf_counter_ns()
    for number in range(casts):
        actor_ref.tell(number)
    actor_ref.ask(COUNT)
    elapsed = time.perf_counter_ns() - start
    actor_ref.stop()
    return samples, casts * 1e9 / elapsed


def measure(rounds: int, calls: int, casts: int) -> tuple[dict[str, Any], dict[str, float]]:
    """Run every contender ``rounds`` times, interleaved; return the medians over the rounds,
    ``{name: [median µs, p90 µs]}`` for calls and ``{name: messages/s}`` for casts."""
    contenders: dict[str, Callable[[], tuple[list[int], float]]] = {
        FLOOR: lambda: trio.run(channel_round, calls, casts),
        OURS: lambda: trio.run(actor_round, calls, casts),
    }
    if pykka is not None:
        contenders[PYKKA] = lambda: pykka_round(calls, casts)
    latencies: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    throughputs: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run_round in contenders.items():
            samples, rate = run_round()
            deciles = statistics.quantiles(samples, n=10)
            latencies[name].append((deciles[4] / 1000, deciles[8] / 1000))
            throughputs[name].append(rate)
    call_medians = {
        name: list(map(statistics.median, zip(*runs, strict=True)))
        for name, runs in latencies.items()
    }
    return call_medians, {name: statistics.median(runs) for name, runs in throughputs.items()}


def report(calls: dict[str, Any], casts: dict[str, float]) -> None:
    """Print both tables with ratios against the floor, then whether the goals are met."""
    print(f"\n{'call round trip':<22}{'median':>12}{'p90':>12}{'vs floor':>10}")
    for name, (median, p90) in calls.items():
        print(f"  {name:<20}{median:>9.1f} µs{p90:>9.1f} µs{median / calls[FLOOR][0]:>9.2f}x")
    print(f"\n{'cast throughput':<22}{'median':>18}{'vs floor':>16}")
    for name, rate in casts.items():
        print(f"  {name:<20}{rate:>12,.0f} msg/s{rate / casts[FLOOR]:>15.2f}x")

    ours_over_floor = calls[OURS][0] / calls[FLOOR][0]
    print("\ngoals (ratio: ours / the other)")
    print_goal(
        "our call round trip within 3x the bare channel", ours_over_floor, ours_over_floor <= 3
    )
    if pykka is not None:
        time_ratio, rate_ratio = calls[OURS][0] / calls[PYKKA][0], casts[OURS] / casts[PYKKA]
        print_goal("faster than pykka, call round trip (time)", time_ratio, time_ratio < 1)
        print_goal("faster than pykka, cast throughput (rate)", rate_ratio, rate_ratio > 1)


def print_goal(goal: str, ratio: float, met: bool) -> None:
    """Print one goal from the issue, this run's ratio and whether the goal is met."""
    print(f"  {goal}: {ratio:.2f}x, {'met' if met else 'NOT met'}")


def main() -> None:
    """Parse the command line, print the environment, measure and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few thousand iterations only")
    rounds, calls, casts = (3, 2_000, 5_000) if parser.parse_args().quick else (5, 20_000, 100_000)

    if pykka is None:
        print("pykka is not installed: its rows are skipped (pip install -e .[bench])")
    peers = f"trio {trio.__version__}" + (f", pykka {metadata.version('pykka')}" if pykka else "")
    ours = metadata.version("slither_actors")
    print(f"Python {sys.version.split()[0]}, slither_actors {ours}, {peers}")
    print(f"{os.cpu_count()} CPUs; {rounds} rounds of {calls:,} calls and {casts:,} casts each")
    report(*measure(rounds, calls, casts))


if __name__ == "__main__":
    main()
