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
