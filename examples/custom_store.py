"""A store of your own: two tables, a ``load``, and a view that worker processes read.

The parent reads the store directly and writes to it through its actor; the workers in
``custom_store_worker.py`` read it through the ``discount`` view while they handle a call.
Run it with ``python examples/custom_store.py`` (from any directory).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import slither_actors as sa

HERE = Path(__file__).resolve().parent  # where custom_store_worker.py is

# Stands in for a database: `load` reads it at start and on every reload.
DATABASE: dict[str, dict[str, Any]] = {
    "users": {"ada": "gold", "bob": "silver"},
    "discounts": {"gold": 10, "silver": 5},
}


class Shop(sa.Store):
    tables = (sa.Table("users", "set"), sa.Table("discounts", "set"))

    async def load(self, tables: Mapping[str, sa.TableLoader]) -> None:
        for name, rows in DATABASE.items():
            tables[name].put_many(rows.items())

    @sa.view(scope="global")  # any worker call may read it, not only one session's
    def discount(self, params: dict[str, Any], ctx: sa.Context) -> int:
        tier = self.get("users", params["user"])
        return int(self.get("discounts", tier, 0))


async def main(runtime: sa.Runtime) -> None:
    shop = await runtime.start_store(Shop)
    pool = await runtime.pool()
    baskets = [{"user": "ada", "total": 200}, {"user": "bob", "total": 200}]

    async def checkout() -> str:
        ada, bob = await pool.call("custom_store_worker:checkout", baskets)
        return f"ada pays {ada}, bob pays {bob}"

    users, discounts = dict(shop.match("users")), dict(shop.match("discounts"))  # no await
    print("direct reads:", users, discounts)
    print("workers, through the view:", await checkout())
    await shop.put("users", "bob", "gold")  # a write, applied by the store's actor
    print("after bob becomes gold:", await checkout())
    DATABASE["discounts"]["gold"] = 25
    await shop.reload()  # fresh tables from DATABASE: bob's write was never in it
    print("after a reload (gold 25% off, bob's write gone):", await checkout())


if __name__ == "__main__":
    settings = sa.Settings(
        pools=(sa.PoolSettings(size=2, cwd=str(HERE), preload=("custom_store_worker",)),)
    )
    sa.run(main, settings=settings)
