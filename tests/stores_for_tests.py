"""Stores the store and view tests declare (importable by name from settings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio

import slither_actors as sa


class FeatureStore(sa.Store):
    """The seed's example store: one set table of features, and views over it."""

    tables = (sa.Table("features", "set"), sa.Table("events", "ordered_set"))

    async def load(self, tables: Mapping[str, sa.TableLoader]) -> None:
        tables["features"].put("user:42", {"tier": "gold"})
        tables["features"].put("user:7", {"tier": "silver"})

    @sa.view(scope="session")
    def lookup_feature(self, params: dict[str, Any], ctx: sa.Context) -> dict[str, Any]:
        value = self.get("features", params["key"])
        return {"value": value} if value is not None else {"error": "not_found"}

    @sa.view(scope="global")
    def tier_count(self, params: dict[str, Any], ctx: sa.Context) -> int:
        return len(self.match("features", value={"tier": params["tier"]}))

    @sa.view(mode="batch", scope="global")
    def lookup_many(self, items: list[dict[str, Any]], ctx: sa.Context) -> list[Any]:
        return [self.get("features", item["key"]) for item in items]

    @sa.view(scope="global")
    def broken(self, params: dict[str, Any], ctx: sa.Context) -> Any:
        raise ValueError(f"cannot look up {params!r}")

    @sa.view(scope="global", timeout=0.2)
    async def slow(self, params: dict[str, Any], ctx: sa.Context) -> Any:
        await trio.sleep(30)

    @sa.view(scope="session")
    def whose_session(self, params: dict[str, Any], ctx: sa.Context) -> str:
        return ctx.session_id


class FailingStore(sa.Store):
    """A store whose load always fails."""

    tables = (sa.Table("nothing", "set"),)

    async def load(self, tables: Mapping[str, sa.TableLoader]) -> None:
        raise OSError("the features file is missing")
