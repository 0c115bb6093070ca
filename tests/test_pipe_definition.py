"""Pipe declarations: what is checked when the class is defined, and introspection."""

from __future__ import annotations

from typing import Any

import pytest

import slither_actors as sa
from tests.stores_for_tests import FeatureStore


def keep(item: sa.Item, ctx: sa.Context) -> Any:
    return item.payload


def always(item: sa.Item) -> bool:
    return True


def define(**attributes: Any) -> type[sa.Pipe]:
    """A pipe class named ``Checked`` with the given class attributes."""
    return type("Checked", (sa.Pipe,), attributes)


@pytest.mark.parametrize(
    ("attributes", "stage", "problem"),
    [
        ({"stages": []}, None, "at least one stage"),
        (
            {"stages": [sa.LocalStage("a", keep), sa.LocalStage("a", keep)]},
            "a",
            "two stages have this name",
        ),
        (
            {"stages": [sa.LocalStage("a", keep)], "on_error": {"b": "skip"}},
            "b",
            "on_error names a stage the pipe does not have",
        ),
        (
            {"stages": [sa.RouterStage("r", [(always, "nowhere")])]},
            "r",
            "routes to 'nowhere', which is not declared",
        ),
        (
            {"stages": [sa.LocalStage("a", keep), sa.RouterStage("r", [(always, "a")])]},
            "r",
            "routes to 'a', which is an earlier stage",
        ),
        ({"stages": [sa.WorkerStage("w")]}, "w", "needs a target"),
        (
            {"stages": [sa.WorkerStage("w", module="m", function="f", tool="t")]},
            "w",
            "not both",
        ),
        ({"stages": [sa.LocalStage("a")]}, "a", "a handler or a batch_handler"),
        (
            {"stages": [sa.LocalStage("a", keep)], "on_error": {"a": sa.ToOutput("dead")}},
            "a",
            "'dead', not a declared output",
        ),
        (
            {"stages": [sa.LocalStage("a", keep)], "on_error": {"*": "explode"}},
            "*",
            "a stage policy is",
        ),
        (
            {"stages": [sa.LocalStage("a", keep)], "outputs": ["a"]},
            "a",
            "an output and a stage share this name",
        ),
        ({"stages": [sa.LocalStage("a", keep)], "stores": [dict]}, None, "not a Store class"),
        # A str is iterable: "accept" was taken for the outputs a, c, c, e, p, t.
        ({"stages": [sa.LocalStage("a", keep)], "outputs": "accept"}, None, "outputs is a list"),
        ({"stages": sa.LocalStage("a", keep)}, None, "stages is a list, not LocalStage"),
        ({"stages": [sa.LocalStage("a", keep)], "stores": FeatureStore}, None, "stores is a list"),
        ({"stages": [sa.LocalStage("a", keep)], "on_error": "skip"}, None, "on_error is a dict"),
        ({"stages": [sa.LocalStage("a", keep)], "pipe_name": ""}, None, "pipe_name is a non-empty"),
    ],
)
def test_a_wrong_declaration_fails_when_the_class_is_defined(
    attributes: dict[str, Any], stage: str | None, problem: str
) -> None:
    with pytest.raises(sa.PipeDefinitionError, match=problem) as caught:
        define(**attributes)
    assert caught.value.pipe == "Checked" and caught.value.stage == stage
    assert str(caught.value).startswith("pipe 'Checked'")


def test_stage_arguments_are_checked_when_the_stage_is_made() -> None:
    with pytest.raises(ValueError, match="stage name"):
        sa.LocalStage("*", keep)
    with pytest.raises(ValueError, match="concurrency"):
        sa.LocalStage("a", keep, concurrency=0)
    with pytest.raises(ValueError, match="a route is"):
        sa.RouterStage("r", [(always, 3)])
    with pytest.raises(ValueError):
        sa.LocalStage("a", keep, cardinality="several")


def test_a_pipe_name_that_is_not_a_str_fails_when_the_class_is_defined() -> None:
    with pytest.raises(sa.PipeDefinitionError, match="pipe_name is a non-empty string or None"):
        define(stages=[sa.LocalStage("a", keep)], pipe_name=5)


NAN = float("nan")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # None used to pass, and crash the stage at run time until its supervisor gave up.
        (lambda: sa.LocalStage("a", keep, concurrency=None), "concurrency must be an int, not"),
        (lambda: sa.LocalStage("a", batch_handler=keep, batch_size=None), "batch_size must be"),
        (lambda: sa.LocalStage("a", keep, concurrency=True), "concurrency must be an int, not"),
        (lambda: sa.LocalStage("a", keep, buffer=2.5), "buffer must be an int, not float 2.5"),
        (lambda: sa.LocalStage("a", 5), "handler must be a callable or None, not int 5"),
        (lambda: sa.LocalStage("a", batch_handler=5), "batch_handler must be a callable or"),
        (lambda: sa.RouterStage("r", 5), "routes must be a list of"),
        (lambda: sa.RouteTo(5), "destination must be a str, not int 5"),
        (lambda: sa.RouteTo(""), "destination must not be empty"),
    ],
)
def test_local_and_router_stages_refuse_arguments_of_the_wrong_kind(
    make: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # The timeout used to be taken as it was and reach the pool with each batch.
        ({"timeout": NAN}, "timeout must be a number of seconds above 0, not nan"),
        ({"timeout": 0}, "timeout must be a number of seconds above 0, not 0"),
        ({"timeout": -1.0}, "timeout must be a number of seconds above 0, not -1.0"),
        ({"timeout": True}, "timeout must be a number of seconds, not bool True"),
        ({"timeout": "30"}, "timeout must be a number of seconds, not str '30'"),
        ({"linger": NAN}, "linger must be a number of seconds 0 or more, not nan"),
        ({"linger": -0.1}, "linger must be a number of seconds 0 or more, not -0.1"),
        ({"linger": True}, "linger must be a number of seconds, not bool True"),
        ({"batch_size": 0}, "batch_size must be an int, 1 or more, not 0"),
        ({"max_in_flight": True}, "max_in_flight must be an int, not bool True"),
        ({"max_in_flight": NAN}, "max_in_flight must be an int, not float nan"),
        ({"buffer": 0}, "buffer must be an int, 1 or more, not 0"),
        ({"module": 5}, "module must be a str or None, not int 5"),
        ({"function": ""}, "function must not be empty"),
        ({"pool": None}, "pool must be a str, not NoneType None"),
        ({"strategy": 5}, "strategy must be a batching strategy"),
    ],
)
def test_a_worker_stage_refuses_bad_options_before_any_batch_reaches_a_pool(
    options: dict[str, Any], message: str
) -> None:
    target = {"module": "m", "function": "f"}
    with pytest.raises(ValueError, match=message):
        sa.WorkerStage("w", **{**target, **options})


def test_a_worker_stage_takes_an_unbounded_timeout_and_linger() -> None:
    stage = sa.WorkerStage("w", tool="t", timeout=float("inf"), linger=0)
    assert stage.timeout == float("inf") and stage.linger == 0


class Keeping(sa.Pipe):
    stages = [sa.LocalStage("a", keep)]


@pytest.mark.parametrize(
    ("pipe", "inputs", "options", "message"),
    [
        (sa.Pipe, [1], {}, "pipe must be a Pipe subclass with stages"),
        (int, [1], {}, "pipe must be a Pipe subclass with stages"),
        (Keeping, 5, {}, "inputs must be an iterable or an async iterable, not int"),
        (Keeping, [1], {"session_id": 7}, "session_id must be a str or None, not int 7"),
        (Keeping, [1], {"session_id": b"s"}, "session_id must be a str or None, not bytes"),
        (Keeping, [1], {"session_id": ""}, "session_id must not be empty"),
        (Keeping, [1], {"metadata": [1]}, "metadata must be a Mapping or None, not list"),
    ],
)
async def test_run_pipe_and_stream_pipe_refuse_bad_arguments_before_anything_runs(
    pipe: Any, inputs: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await sa.run_pipe(pipe, inputs, **options)
    with pytest.raises(ValueError, match=message):
        async with sa.stream_pipe(pipe, inputs, **options):
            raise AssertionError("entered")
    assert (await sa.run_pipe(Keeping, [1, 2])).payloads() == [1, 2]


class ScorePipe(sa.Pipe):
    stores = [FeatureStore]
    stages = [
        sa.LocalStage("prepare", keep),
        sa.WorkerStage("predict", module="my_model", function="predict_batch", batch_size=32),
        sa.RouterStage("route", [(always, "accept"), (always, "review")]),
    ]
    outputs = ["accept", "review"]
    on_error = {"predict": sa.Retry(2, isolate=True, then="skip"), "*": "halt"}


def test_a_pipe_describes_itself() -> None:
    assert ScorePipe.describe() == {
        "name": "ScorePipe",
        "stages": [
            {"name": "prepare", "kind": "local", "on_error": "halt"},
            {
                "name": "predict",
                "kind": "worker",
                "target": "my_model:predict_batch",
                "on_error": "retry (2 attempts, isolating)",
            },
            {"name": "route", "kind": "router", "routes": ["accept", "review"], "on_error": "halt"},
        ],
        "outputs": ["default", "accept", "review"],
        "stores": ["FeatureStore"],
    }
    assert ScorePipe.output_names == ("default", "accept", "review")
    assert isinstance(ScorePipe.stage("predict"), sa.WorkerStage)


def test_a_pipe_without_stages_of_its_own_is_a_base_for_others() -> None:
    class Base(sa.Pipe):
        outputs = ["dead"]
        on_error = {"*": sa.ToOutput("dead")}

    class Concrete(Base):
        stages = [sa.LocalStage("a", keep)]

    assert Concrete.output_names == ("default", "dead")
    assert Concrete.policies["a"] == sa.ToOutput("dead")
