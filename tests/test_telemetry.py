"""Telemetry: attach, detach, execute, span, and handlers that misbehave."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from slither_actors import telemetry
from slither_actors.errors import HandlerAlreadyAttached

WRITE = ("slither", "store", "write")
BATCH = ("slither", "dispatch", "batch")


@pytest.fixture(autouse=True)
def no_handlers_left_behind() -> Iterator[None]:
    yield
    for handler_id in telemetry.list_handlers():
        telemetry.detach(handler_id)


def test_an_attached_handler_receives_event_measurements_metadata_and_config() -> None:
    calls: list[tuple[Any, ...]] = []
    telemetry.attach("h", [WRITE], lambda *args: calls.append(args), config={"tag": 1})
    telemetry.execute(WRITE, {"count": 3}, {"store": "features"})
    assert calls == [(WRITE, {"count": 3}, {"store": "features"}, {"tag": 1})]


def test_handlers_see_only_their_events_and_stop_after_detach() -> None:
    calls: list[Any] = []
    telemetry.attach("h", [WRITE], lambda event, *_: calls.append(event))
    telemetry.execute(("slither", "other"), {}, {})
    telemetry.execute(WRITE)
    assert telemetry.detach("h") is True
    telemetry.execute(WRITE)
    assert calls == [WRITE]
    assert telemetry.detach("h") is False


def test_handler_ids_are_unique() -> None:
    telemetry.attach("h", [WRITE], lambda *_: None)
    with pytest.raises(HandlerAlreadyAttached, match="'h'"):
        telemetry.attach("h", [WRITE], lambda *_: None)


@pytest.mark.parametrize("bad", ["slither.store.write", (), ("slither", 1), ["slither"]])
def test_event_names_must_be_tuples_of_strings(bad: Any) -> None:
    with pytest.raises(TypeError, match="event name"):
        telemetry.attach("h", [bad], lambda *_: None)
    assert telemetry.list_handlers() == []


@pytest.mark.parametrize(
    ("handler_id", "function", "message"),
    [
        (5, print, "handler_id must be a str, not int 5"),
        ("", print, "handler_id must not be empty"),
        # A handler that cannot be called used to be taken, then detached at the first event.
        ("h", 5, "function must be a callable, not int 5"),
    ],
)
def test_attach_refuses_a_bad_handler_id_or_function(
    handler_id: Any, function: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        telemetry.attach(handler_id, [WRITE], function)
    assert telemetry.list_handlers() == []


def test_one_event_name_given_for_the_list_of_events_is_named_as_such() -> None:
    with pytest.raises(TypeError, match=r"for the one event \('slither', 'store', 'write'\)"):
        telemetry.attach("h", WRITE, lambda *_: None)
    assert telemetry.list_handlers() == []


@pytest.mark.parametrize("bad", ["slither.dispatch.batch", ["slither"], (), ("slither", 1)])
def test_a_span_prefix_must_be_a_tuple_of_strings(bad: Any) -> None:
    with pytest.raises(TypeError, match="event name"), telemetry.span(bad):
        raise AssertionError("entered")


def test_a_raising_handler_is_detached_and_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def broken(*_: Any) -> None:
        raise RuntimeError("handler bug")

    telemetry.attach("broken", [WRITE], broken)
    telemetry.attach("fine", [WRITE], lambda *_: calls.append("fine"))
    with caplog.at_level(logging.ERROR, logger="slither_actors.telemetry"):
        telemetry.execute(WRITE, {}, {})  # must not raise
    telemetry.execute(WRITE, {}, {})
    assert calls == ["fine", "fine"]
    assert telemetry.list_handlers() == ["fine"]
    assert "'broken' raised on event" in caplog.text and "handler bug" in caplog.text


def test_span_emits_start_then_stop_with_duration_and_added_measurements() -> None:
    with (
        telemetry.capture([(*BATCH, "start"), (*BATCH, "stop")]) as seen,
        telemetry.span(BATCH, {"batch_ref": 7}) as span,
    ):
        span.measurements["count"] = 64
        span.metadata["worker"] = 2
    start, stop = seen
    assert start.name == (*BATCH, "start") and start.metadata == {"batch_ref": 7}
    assert {"monotonic_time", "system_time"} <= set(start.measurements)
    assert stop.measurements["count"] == 64 and stop.measurements["duration"] >= 0
    assert stop.metadata == {"batch_ref": 7, "worker": 2}


def test_span_start_metadata_is_not_changed_by_the_block() -> None:
    with telemetry.capture([(*BATCH, "start")]) as seen, telemetry.span(BATCH, {"a": 1}) as span:
        span.metadata["added"] = True
    assert seen[0].metadata == {"a": 1}


def test_span_emits_exception_with_kind_and_reason_and_reraises() -> None:
    error = ValueError("bad batch")
    with (
        telemetry.capture([(*BATCH, "exception"), (*BATCH, "stop")]) as seen,
        pytest.raises(ValueError),
        telemetry.span(BATCH, {"batch_ref": 1}),
    ):
        raise error
    (event,) = seen
    assert event.name == (*BATCH, "exception")
    assert event.metadata == {"batch_ref": 1, "kind": "error", "reason": error}
    assert "duration" in event.measurements


async def test_span_reports_cancellation_as_kind_cancelled() -> None:
    with (
        telemetry.capture([(*BATCH, "exception")]) as seen,
        trio.move_on_after(0) as scope,
        telemetry.span(BATCH),
    ):
        await trio.sleep_forever()
    assert scope.cancelled_caught
    assert seen[0].metadata["kind"] == "cancelled"


def test_list_handlers_filters_by_prefix() -> None:
    telemetry.attach("store", [WRITE], lambda *_: None)
    telemetry.attach("batch", [(*BATCH, "stop")], lambda *_: None)
    assert telemetry.list_handlers(("slither", "dispatch")) == ["batch"]
    assert sorted(telemetry.list_handlers()) == ["batch", "store"]
