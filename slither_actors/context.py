"""`Context`: what a run knows about itself (session, pipe, stage, metadata)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Context"]


def new_session_id() -> str:
    """A fresh session id, ``slither_`` followed by 16 random hex digits."""
    return f"slither_{uuid.uuid4().hex[:16]}"


@attrs.frozen(slots=True)
class Context:
    """The context of one run, handed to stage handlers and executors.

    ``session_id`` gives worker affinity and scopes store views to the run. Contexts are
    immutable: `with_stage` and `put_metadata` return new contexts.
    """

    session_id: str
    pipe: str | None = None
    stage: str | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def new(
        cls,
        session_id: str | None = None,
        pipe: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Context:
        """A context for a new run; without ``session_id`` a fresh ``slither_…`` id is made."""
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
