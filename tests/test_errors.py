"""Every exception: one base class, fields that are its arguments, and copies that say the same."""

from __future__ import annotations

import copy
import inspect
import pickle
from typing import Any

import pytest

import slither_actors as sa
from slither_actors import errors, worker

CAUSE = KeyError("the cause")

# Arguments for every exception of errors.py, in constructor order.
SAMPLES: dict[type[BaseException], tuple[Any, ...]] = {
    errors.ActorExited: ("actor 'a'", CAUSE),
    errors.CallTimeout: ("actor 'a'", {"ping": 1}, 1.5),
    errors.MailboxFull: ("actor 'a'", 8),
    errors.SupervisorExhausted: ("root", "child 1", "normal", 3, 5.0),
    errors.ChildStartFailed: ("root", "child 1", CAUSE),
    errors.UnknownChild: ("root", "child 1"),
    errors.DuplicateChild: ("root", "child 1"),
    errors.MaxChildrenReached: ("root", 4),
    errors.ProtocolError: ("frame body is not msgpack",),
    errors.RemoteProtocolError: ("frame body is not msgpack",),
    errors.LocalProtocolError: ("no call 3 is running",),
    errors.PayloadError: ("item 3 is a set",),
    errors.WorkerError: ("mod:fn", "ValueError", "bad", "Traceback ...", "pool 'p' worker 1"),
    errors.WorkerCrashed: ("mod:fn", "was killed by signal SIGKILL", "pool 'p' worker 1"),
    errors.WorkerStartFailed: ("pool 'p' worker 1", "exited with code 1", "ImportError: x"),
    errors.PoolSaturated: ("p", 100),
    errors.SessionLost: ("p", "s-1", "pool 'p' worker 1"),
    errors.TooManySessions: ("p", "s-1", 10),
    errors.PoolClosed: ("p",),
    errors.ViewError: ("lookup", "LookupError", "no such key"),
    errors.ResultError: ("returned a dict, not a list of 3 results",),
    errors.ParentGone: ("the pipe from the parent reached end-of-file",),
    errors.BatchLengthError: ("mod:fn", 3, 64, 63),
    errors.DispatchError: (CAUSE, 3, [sa.Item(1, "x"), sa.Item.wrap(2, meta={"a": 1})]),
    errors.PipeDefinitionError: ("Scores", "route", "routes to nothing"),
    errors.ItemFailed: ("too short",),
    errors.PipeError: ("Scores", "route", 7, CAUSE, None),
    errors.StoreLoadFailed: ("features", CAUSE),
    errors.UnknownStore: ("features", ["labels"]),
    errors.UnknownTable: ("features", "rows", ["columns"]),
    errors.ViewNotFound: ("lookup", "s-1"),
    errors.ViewRefused: ("lookup", "s-1"),
    errors.ViewTimeout: ("lookup", 2.0),
    errors.NameTaken: ("cache", "actor 'cache'"),
    errors.NameNotFound: ("cache",),
    errors.NoRuntime: ("open a runtime",),
    errors.NotInTrio: ("dispatch", "asyncio"),
    errors.HandlerAlreadyAttached: ("metrics",),
    errors.ConfigError: ("settings.toml", ["pools.0.size: must be 1 or more, not 0"]),
}


def every_exception() -> list[type[BaseException]]:
    return [
        value
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, errors.SlitherError)
        and value is not errors.SlitherError
        and not name.startswith("_")
    ]


def test_every_exception_has_a_sample_here() -> None:
    assert set(every_exception()) == set(SAMPLES)


@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda kind: kind.__name__)
def test_an_exception_pickles_and_copies_with_its_fields_and_message(
    kind: type[BaseException],
) -> None:
    arguments = SAMPLES[kind]
    error = kind(*arguments)
    fields = list(inspect.signature(kind).parameters)
    assert tuple(getattr(error, name) for name in fields[: len(arguments)]) == arguments
    assert error.args[: len(arguments)] == arguments
    message = str(error)
    assert message and "(" not in message[:1]  # a sentence, not a repr of the arguments
    for again in (
        pickle.loads(pickle.dumps(error)),
        copy.copy(error),
        copy.deepcopy(error),
    ):
        assert type(again) is kind and str(again) == message
        assert [str(getattr(again, name)) for name in fields] == [
            str(getattr(error, name)) for name in fields
        ]


def test_every_exception_is_a_slither_error_and_lives_in_errors() -> None:
    assert worker.ViewError is errors.ViewError
    assert issubclass(errors.ViewError, errors.SlitherError)
    for kind in every_exception():
        assert kind.__module__ == "slither_actors.errors"


def test_messages_are_built_from_the_fields() -> None:
    timeout = errors.CallTimeout("actor 'a'", {"ping": 1}, 1.5)
    assert str(timeout) == "call to actor 'a' got no reply within 1.5s (message dict)"
    assert str(errors.CallTimeout("w", "t", 2.0, "ran over 2s")) == "ran over 2s"
    table = errors.UnknownTable("features", "rows", ["a", "b"])
    assert str(table) == "store 'features' has no table 'rows' (tables: a, b)"  # no KeyError quotes
    crashed = errors.WorkerCrashed(None, "exited with code 3", "pool 'p' worker 1")
    assert str(crashed) == "worker exited with code 3 (pool 'p' worker 1)"
    assert isinstance(errors.ViewTimeout("v", 1.0), TimeoutError)
    assert errors.ViewRefused("v", None).errno is None  # not read as an OSError's errno
