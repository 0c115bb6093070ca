"""Called from asyncio, or outside any loop, each place a run begins says the library needs
Trio and how to get there, instead of failing inside trio with an AttributeError."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import slither_actors as sa
from tests.stores_for_tests import FeatureStore


class Doubling(sa.Pipe):
    stages = [sa.LocalStage("double", lambda item, ctx: item.payload * 2)]


class Idle(sa.Actor):
    pass


def echo(payloads: list[Any]) -> list[Any]:
    return payloads


async def discard(output: str, item: sa.Item) -> None:
    pass


async def enter(context: Any) -> None:
    async with context:
        raise AssertionError("entered outside trio")


# Each place a run begins, as a coroutine function to run on some loop.
ENTRY_POINTS: dict[str, Callable[[], Awaitable[Any]]] = {
    "dispatch": lambda: sa.dispatch([1, 2], executor=sa.LocalExecutor(echo)),
    "dispatch_stream": lambda: enter(
        sa.dispatch_stream([1, 2], executor=sa.LocalExecutor(echo))
    ),
    "run_pipe": lambda: sa.run_pipe(Doubling, [1, 2]),
    "stream_pipe": lambda: enter(sa.stream_pipe(Doubling, [1, 2])),
    "open_pool": lambda: enter(sa.open_pool()),
    "open_runtime": lambda: enter(sa.open_runtime()),
    "open_store": lambda: enter(sa.open_store(FeatureStore)),
    "start_pipe": lambda: sa.start_pipe(Doubling, [1, 2], discard),
    "run_actor": lambda: sa.run_actor(Idle()),
}


@pytest.mark.parametrize("call", sorted(ENTRY_POINTS))
def test_from_asyncio_each_entry_point_says_it_needs_trio(call: str) -> None:
    async def main() -> None:
        await ENTRY_POINTS[call]()

    with pytest.raises(sa.NotInTrio) as caught:
        asyncio.run(main())
    assert (caught.value.call, caught.value.library) == (call, "asyncio")
    assert str(caught.value) == (
        f"{call} needs a Trio event loop, but it was called from asyncio. Run your program "
        "with trio.run(main), or, to stay in an asyncio program, call it through "
        "trio-asyncio (trio_asyncio.trio_as_aio)."
    )
    assert isinstance(caught.value, RuntimeError)


def test_outside_any_loop_it_says_so() -> None:
    coroutine = ENTRY_POINTS["dispatch"]()
    with pytest.raises(sa.NotInTrio, match=r"called outside any event loop\. Run your program"):
        coroutine.send(None)  # type: ignore[attr-defined]
