"""The supervisor's restart decisions, checked against a small reference model.

Hypothesis draws children (restart types), a strategy, an intensity and a sequence of
timed exits (crash or normal stop); a real `Supervisor` on a mock clock must start each
child as often as the model says, end with the same children running and present, and
give up exactly when the model does.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import given, settings, strategies as st

import slither_actors as sa
from tests.conftest import child_value, inits, journaling_child, settle

MAX_SECONDS = 5.0


@attrs.define
class ModelChild:
    label: str
    restart: sa.Restart
    starts: int = 1
    running: bool = True
    present: bool = True


@attrs.define
class Model:
    """What OTP says should happen, written as plainly as possible."""

    children: list[ModelChild]
    strategy: sa.Strategy
    max_restarts: int
    restart_times: list[float] = attrs.Factory(list)
    exhausted: bool = False

    def exit(self, index: int, crashed: bool, now: float) -> None:
        child = self.children[index]
        restart = child.restart is sa.Restart.PERMANENT or (
            child.restart is sa.Restart.TRANSIENT and crashed
        )
        if not restart:
            child.running = False
            child.present = child.restart is not sa.Restart.TEMPORARY
            return
        self.restart_times = [t for t in self.restart_times if now - t < MAX_SECONDS] + [now]
        if len(self.restart_times) > self.max_restarts:
            self.exhausted = True
            return
        present = [other for other in self.children if other.present]
        if self.strategy is sa.Strategy.ONE_FOR_ONE:
            group = [child]
        elif self.strategy is sa.Strategy.ONE_FOR_ALL:
            group = present
        else:
            group = present[present.index(child) :]
        for other in group:
            if other is child:
                continue
            if other.restart is sa.Restart.TEMPORARY:
                other.running = other.present = False
            elif other.running:
                other.starts += 1
        child.starts += 1
        child.running = True


exits = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3),  # which child
        st.booleans(),  # crash (True) or normal stop (False)
        st.sampled_from([0.0, 1.0, 2.5, 6.0]),  # seconds before this exit
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(
    restarts=st.lists(st.sampled_from(list(sa.Restart)), min_size=1, max_size=4),
    strategy=st.sampled_from(list(sa.Strategy)),
    max_restarts=st.integers(min_value=0, max_value=3),
    events=exits,
)
def test_supervisor_restarts_match_the_reference_model(
    restarts: list[sa.Restart],
    strategy: sa.Strategy,
    max_restarts: int,
    events: list[tuple[int, bool, float]],
) -> None:
    labels = [f"c{index}" for index in range(len(restarts))]
    model = Model(
        [ModelChild(label, restart) for label, restart in zip(labels, restarts, strict=True)],
        strategy,
        max_restarts,
    )
    journal: list[Any] = []
    observed: dict[str, Any] = {}

    async def drive() -> None:
        specs = [
            journaling_child(label, journal, restart=restart)
            for label, restart in zip(labels, restarts, strict=True)
        ]
        supervisor_spec = sa.Supervisor(
            specs, strategy=strategy, max_restarts=max_restarts, max_seconds=MAX_SECONDS
        )
        try:
            async with trio.open_nursery() as nursery:
                supervisor = await nursery.start(supervisor_spec.start)
                for index, crashed, delay in events:
                    await trio.sleep(delay)
                    child = model.children[index % len(model.children)]
                    if not (child.present and child.running):
                        continue
                    await child_value(supervisor, child.label).cast("crash" if crashed else "stop")
                    model.exit(model.children.index(child), crashed, trio.current_time())
                    await settle()
                    if model.exhausted:
                        raise AssertionError("the model gave up but the supervisor did not")
                observed["children"] = {
                    info.id: info.running for info in supervisor.which_children()
                }
                await supervisor.stop()
        except* sa.SupervisorExhausted:
            observed["exhausted"] = True

    trio.run(drive, clock=trio.testing.MockClock(autojump_threshold=0))

    assert observed.get("exhausted", False) == model.exhausted
    started = inits(journal)
    assert {label: started.count(label) for label in labels} == {
        child.label: child.starts for child in model.children
    }
    if not model.exhausted:
        assert observed["children"] == {
            child.label: child.running for child in model.children if child.present
        }
