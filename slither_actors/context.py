"""`Context`: what a run knows about itself (session, pipe, stage, metadata)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from slither_actors._checks import check_instance, check_text, validator

__all__ = ["Context"]


def new_session_id() -> str:
    """A fresh session id, ``slither_`` followed by 16 random hex digits."""
    return f"slither_{uuid.uuid4().hex[:16]}"


def _session_id(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    # Empty is allowed here: a store view called without a session gets a context with "".
    # The calls that take a session id from the user (`Context.new`, run_pipe, dispatch)
    # refuse an empty one.
    if type(value) is not str:
        check_text(attribute.name, value)


@attrs.frozen(slots=True)
class Context:
    """The context of one run, handed to stage handlers and executors.

    ``session_id`` gives worker affinity and scopes store views to the run. Contexts are
    immutable: `with_stage` and `put_metadata` return new contexts.

    Raises `ValueError` when ``session_id`` is not a str (it travels to worker processes),
    ``pipe`` or ``stage`` is neither a non-empty str nor None, or ``metadata`` is not a
    mapping.
    """

    session_id: str = attrs.field(validator=_session_id)
    pipe: str | None = attrs.field(default=None, validator=validator(check_text, optional=True))
    stage: str | None = attrs.field(default=None, validator=validator(check_text, optional=True))
    metadata: Mapping[str, Any] = attrs.field(
        factory=dict, validator=validator(check_instance, Mapping)
    )

    @classmethod
    def new(
        cls,
        session_id: str | None = None,
        pipe: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Context:
        """A context for a new run; without ``session_id`` a fresh ``slither_…`` id is made.

        Raises `ValueError` for a ``session_id`` that is not a non-empty str, or
        ``metadata`` that is not a mapping.
        """
        check_text("session_id", session_id, optional=True)
        check_instance("metadata", metadata, Mapping, optional=True)
        return cls(
            session_id=session_id if session_id is not None else new_session_id(),
            pipe=pipe,
            metadata=dict(metadata) if metadata else {},
        )

    def with_stage(self, stage: str) -> Context:
        """A copy naming ``stage`` as the current stage."""
        return attrs.evolve(self, stage=stage)

    def put_metadata(self, metadata: Mapping[str, Any]) -> Context:
        """A copy whose metadata is merged with ``metadata`` (``metadata`` wins)."""
        return attrs.evolve(self, metadata={**self.metadata, **metadata})
