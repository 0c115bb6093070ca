"""`Pipe`: a pipeline declared as a class, checked as the class is defined."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import attrs

from slither_actors._dispatch import Halt, Retry, Skip
from slither_actors._pipe._stages import LocalStage, RouterStage, Stage, WorkerStage
from slither_actors._store import Store
from slither_actors.config import OnError
from slither_actors.errors import PipeDefinitionError

__all__ = [
    "DEFAULT_OUTPUT",
    "Pipe",
    "StagePolicy",
    "ToOutput",
    "check_pipe",
    "describe_pipe",
    "stage_kind",
]

DEFAULT_OUTPUT = "default"


@attrs.frozen
class ToOutput:
    """A stage policy: a failed item leaves the pipe through ``output`` (a dead-letter
    output, say), with ``meta["error"]`` describing the failure."""

    output: str


StagePolicy = Halt | Skip | Retry | ToOutput


def _as_policy(value: Any) -> StagePolicy:
    if isinstance(value, Halt | Skip | Retry | ToOutput):
        return value
    if value == "halt":
        return Halt()
    if value == "skip":
        return Skip()
    expected = "'halt', 'skip', Retry(...) or ToOutput(...)"
    raise ValueError(f"a stage policy is {expected}, not {value!r}")


class Pipe:
    """Subclass to declare a pipeline::

        class ScorePipe(Pipe):
            stores = [FeatureStore]
            stages = [
                LocalStage("prepare", prepare),
                WorkerStage("predict", module="my_model", function="predict_batch"),
                RouterStage("route", [(is_accept, "accept"), (is_review, "review")]),
            ]
            outputs = ["accept", "review"]          # "default" always exists
            on_error = {"predict": "skip", "*": "halt"}

    Items flow through the stages in order; a router (or a `RouteTo`) may send an item to
    an output, where it leaves the pipe, or on to a later stage. Items that pass the last
    stage leave through the output their route names, else ``default``. ``on_error``
    gives each stage's policy (``"*"`` for the others; ``"halt"`` unless set). A mistake
    in the declaration raises `PipeDefinitionError` naming the pipe and the stage.
    """

    pipe_name: ClassVar[str | None] = None
    stores: ClassVar[tuple[type[Store], ...] | list[type[Store]]] = ()
    stages: ClassVar[tuple[Stage, ...] | list[Stage]] = ()
    outputs: ClassVar[tuple[str, ...] | list[str]] = ()
    on_error: ClassVar[Mapping[str, StagePolicy | OnError | Literal["halt", "skip"]]] = {}

    # Worked out from the declaration when the class is defined.
    output_names: ClassVar[tuple[str, ...]] = (DEFAULT_OUTPUT,)
    policies: ClassVar[Mapping[str, StagePolicy]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("stages") is None and not cls.stages:
            return  # an abstract base for other pipes: checked when they are defined
        _check(cls)

    @classmethod
    def name(cls) -> str:
        """The pipe's name in errors and telemetry: ``pipe_name``, else the class name."""
        return cls.pipe_name or cls.__name__

    @classmethod
    def stage(cls, name: str) -> Stage:
        """The stage called ``name`` (`KeyError` if none is)."""
        for stage in cls.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The pipe as plain data: its stages (name, kind, routes), outputs, policies, stores."""
        return describe_pipe(cls)


def _check(cls: type[Pipe]) -> None:
    pipe = cls.name()

    def fail(stage: str | None, problem: str) -> None:
        raise PipeDefinitionError(pipe, stage, problem)

    pipe_name = cls.pipe_name
    if pipe_name is not None and (not isinstance(pipe_name, str) or not pipe_name):
        fail(None, f"pipe_name is a non-empty string or None, not {pipe_name!r}")
    for declared in ("stages", "outputs", "stores"):
        value = getattr(cls, declared)
        if not isinstance(value, list | tuple):  # a str would be taken letter by letter
            fail(None, f"{declared} is a list, not {type(value).__name__} {value!r:.60}")
    if not isinstance(cls.on_error, Mapping):
        fail(None, f"on_error is a dict of stage name to policy, not {cls.on_error!r:.60}")

    stages = list(cls.stages)
    if not stages:
        fail(None, "a pipe needs at least one stage")
    names: list[str] = []
    for stage in stages:
        if not isinstance(stage, LocalStage | WorkerStage | RouterStage):
            fail(None, f"{stage!r} is not a LocalStage, WorkerStage or RouterStage")
        if stage.name in names:
            fail(stage.name, "two stages have this name")
        names.append(stage.name)
        for problem in stage.problems():
            fail(stage.name, problem)

    outputs = [DEFAULT_OUTPUT]
    for output in cls.outputs:
        if not isinstance(output, str) or not output:
            fail(None, f"an output name is a non-empty string, not {output!r}")
        if output in names:
            fail(output, "an output and a stage share this name, so a route to it is ambiguous")
        if output not in outputs:
            outputs.append(output)

    for position, stage in enumerate(stages):
        if isinstance(stage, RouterStage):
            later = names[position + 1 :]
            for destination in stage.destinations:
                if destination not in outputs and destination not in later:
                    where = "an earlier stage" if destination in names else "not declared"
                    fail(stage.name, f"routes to {destination!r}, which is {where}")

    policies: dict[str, StagePolicy] = {}
    for key, value in dict(cls.on_error).items():
        if key != "*" and key not in names:
            fail(key, "on_error names a stage the pipe does not have")
        try:
            policy = _as_policy(value)
        except ValueError as error:
            fail(key, str(error))
        if isinstance(policy, ToOutput) and policy.output not in outputs:
            fail(key, f"on_error sends failed items to {policy.output!r}, not a declared output")
        policies[key] = policy
    fallback = policies.pop("*", Halt())
    cls.policies = {name: policies.get(name, fallback) for name in names}

    for store in cls.stores:
        if not (isinstance(store, type) and issubclass(store, Store)):
            fail(None, f"stores lists {store!r}, which is not a Store class")
    cls.output_names = tuple(outputs)


def check_pipe(pipe: Any) -> type[Pipe]:
    """``pipe`` as a pipe to run: a `Pipe` subclass with stages (not an abstract base);
    else `ValueError`."""
    if not (isinstance(pipe, type) and issubclass(pipe, Pipe)) or not pipe.stages:
        raise ValueError(f"pipe must be a Pipe subclass with stages, not {pipe!r:.60}")
    return pipe


def describe_pipe(cls: type[Pipe]) -> dict[str, Any]:
    """``cls`` as plain data, for introspection and docs."""
    stages: list[dict[str, Any]] = []
    for stage in cls.stages:
        entry: dict[str, Any] = {"name": stage.name, "kind": stage_kind(stage)}
        if isinstance(stage, WorkerStage):
            entry["target"] = stage.tool or f"{stage.module}:{stage.function}"
        if isinstance(stage, RouterStage):
            entry["routes"] = stage.destinations
        entry["on_error"] = _describe_policy(cls.policies[stage.name])
        stages.append(entry)
    return {
        "name": cls.name(),
        "stages": stages,
        "outputs": list(cls.output_names),
        "stores": [store.default_name() for store in cls.stores],
    }


def stage_kind(stage: Stage) -> str:
    """``"local"``, ``"worker"`` or ``"router"``: the kind of ``stage``, as descriptions say."""
    if isinstance(stage, LocalStage):
        return "local"
    if isinstance(stage, WorkerStage):
        return "worker"
    return "router"


def _describe_policy(policy: StagePolicy) -> str:
    if isinstance(policy, Halt):
        return "halt"
    if isinstance(policy, Skip):
        return "skip"
    if isinstance(policy, ToOutput):
        return f"to output {policy.output}"
    return f"retry ({policy.max_attempts} attempts{', isolating' if policy.isolate else ''})"
