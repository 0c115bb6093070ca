"""A store with a session view, for chaos/bad_inputs.py's calls from a foreign session."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import slither_actors as sa


class SessionStore(sa.Store):
    """One table of secrets, readable by one session's workers through `secret`."""

    tables = (sa.Table("secrets", "set"),)

    async def load(self, tables: Mapping[str, sa.TableLoader]) -> None:
        """One secret."""
        tables["secrets"].put("door", "open sesame")

    @sa.view(scope="session")
    def secret(self, params: dict[str, Any], ctx: sa.Context) -> Any:
        """The secret under ``params["key"]``, for the session the view is registered to."""
        return self.get("secrets", params["key"])
