"""Stores: in-memory tables owned by actors, read directly, written through the actor,
reloaded atomically, and readable from worker processes through views."""

from slither_actors._store._directory import ActiveStores, StoreDirectory, active_stores
from slither_actors._store._store import (
    NOT_FOUND,
    Store,
    open_store,
    store_child_spec,
)
from slither_actors._store._tables import (
    ANY,
    BagTable,
    DuplicateBagTable,
    OrderedSetTable,
    SetTable,
    Table,
    TableKind,
    TableLoader,
    matches,
)
from slither_actors._store._views import View, ViewMode, ViewRegistry, view

__all__ = [
    "ANY",
    "NOT_FOUND",
    "ActiveStores",
    "BagTable",
    "DuplicateBagTable",
    "OrderedSetTable",
    "SetTable",
    "Store",
    "StoreDirectory",
    "Table",
    "TableKind",
    "TableLoader",
    "View",
    "ViewMode",
    "ViewRegistry",
    "active_stores",
    "matches",
    "open_store",
    "store_child_spec",
    "view",
]
