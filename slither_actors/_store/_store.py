"""`Store`: in-memory tables owned by an actor. Reads are direct; writes go through it.

Like an ETS table owned by a GenServer: any task in the Trio thread reads the tables
directly, with no await and no lock, while writes are messages to the store's actor and so
never interleave. `reload` builds complete new tables first and then swaps them in with a
single assignment: a reader sees the old tables or the new ones, never half a load.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import attrs

from slither_actors import telemetry
from slither_actors._checks import check_callable, check_instance, check_text
from slither_actors._core import (
    Actor,
    ChildSpec,
    Reason,
    open_own_nursery,
    require_trio,
    run_actor,
)
from slither_actors._store._directory import StoreDirectory
from slither_actors._store._tables import (
    ANY,
    BagTable,
    OrderedSetTable,
    StoreTable,
    Table,
    TableLoader,
    fill,
)
from slither_actors._store._views import View, ViewRegistry
from slither_actors.errors import StoreLoadFailed, UnknownTable

__all__ = ["NOT_FOUND", "Store", "open_store", "store_child_spec"]


class _NotFound:
    def __repr__(self) -> str:
        return "NOT_FOUND"

    def __bool__(self) -> bool:
        return False


NOT_FOUND: Any = _NotFound()  # what `Store.update` returns when the key is missing


@attrs.frozen
class _Put:
    table: str
    key: Any
    value: Any


@attrs.frozen
class _Update:
    table: str
    key: Any
    function: Callable[[Any], Any]


@attrs.frozen
class _Delete:
    table: str
    key: Any


@attrs.frozen
class _BulkInsert:
    table: str
    items: list[tuple[Any, Any]]


class _Reload:
    pass


@attrs.frozen
class _Raised:
    """A write's exception, handed back to the caller: nothing was written."""

    error: BaseException


def _unwrap(reply: Any) -> Any:
    if isinstance(reply, _Raised):
        raise reply.error
    return reply


def _pair(index: int, item: Any) -> tuple[Any, Any]:
    try:
        key, value = item
    except (TypeError, ValueError):
        message = f"item {index} of a bulk_insert is not a (key, value) pair: {item!r}"
        raise ValueError(message) from None
    hash(key)
    return key, value


@attrs.define(eq=False)
class Store(Actor):
    """Base class for stores. Declare ``tables``, override `load`, mark views with `view`::

        class FeatureStore(sa.Store):
            tables = [sa.Table("features", "set")]

            async def load(self, tables):
                tables["features"].put("user:42", {"tier": "gold"})

            @sa.view(scope="session")
            def lookup_feature(self, params, ctx):
                value = self.get("features", params["key"])
                return {"value": value} if value is not None else {"error": "not_found"}

    Each running store has its own tables, even two of the same class: the name tells
    them apart (``store_name`` on the class, or the class name, unless given at start).
    """

    mailbox_size = 256
    tables: ClassVar[tuple[Table, ...]] = ()
    views: ClassVar[dict[str, View]] = {}
    store_name: ClassVar[str | None] = None

    name: str = attrs.field(default="", init=False)
    _tables: dict[str, StoreTable] = attrs.field(factory=dict, init=False, repr=False)
    _directory: StoreDirectory[Store] | None = attrs.field(default=None, init=False, repr=False)
    _registry: ViewRegistry | None = attrs.field(default=None, init=False, repr=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.tables = tuple(spec if isinstance(spec, Table) else Table(*spec) for spec in cls.tables)
        names = [spec.name for spec in cls.tables]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"store {cls.__name__} declares table {name!r} twice")
        views: dict[str, View] = {}
        for klass in reversed(cls.__mro__):  # a subclass's view replaces one of the same name
            for attribute in vars(klass).values():
                declared = getattr(attribute, "__slither_view__", None)
                if declared is not None:
                    views[declared.name] = declared
        cls.views = views

    @classmethod
    def default_name(cls) -> str:
        """The name a store of this class runs under unless given another."""
        return cls.store_name or cls.__name__

    async def load(self, tables: Mapping[str, TableLoader]) -> None:
        """Fill fresh, empty tables (by name). Runs at start and on every `reload`; readers
        see nothing of it until it has returned. By default the tables start empty."""

    # --- life -----------------------------------------------------------------------------

    async def init(self) -> None:
        self._tables = await self._build()
        # terminate() does not run when init fails: undo what was done before the failure.
        if self._registry is not None:
            self._registry.add_store(self)
        if self._directory is not None:
            try:
                self._directory.add(self)
            except BaseException:
                if self._registry is not None:
                    self._registry.remove_store(self)
                raise

    async def terminate(self, reason: Reason) -> None:
        if self._directory is not None:
            self._directory.remove(self)
        if self._registry is not None:
            self._registry.remove_store(self)

    async def _build(self) -> dict[str, StoreTable]:
        fresh = {spec.name: spec.create(self.name) for spec in self.tables}
        try:
            loading = self.load({name: TableLoader(table) for name, table in fresh.items()})
            if inspect.isawaitable(loading):
                await loading
        except Exception as exc:
            raise StoreLoadFailed(self.name, exc) from exc
        return fresh

    # --- reads: direct, synchronous, from the Trio thread -----------------------------------

    def table(self, name: str) -> StoreTable:
        """The table ``name`` as it is now (a reload replaces it; take it anew to see that)."""
        try:
            return self._tables[name]
        except KeyError:
            raise UnknownTable(self.name, name, list(self._tables)) from None

    def get(self, table: str, key: Any, default: Any = None) -> Any:
        """The value for ``key`` (the first, in a bag), or ``default`` (None)."""
        tables = self._tables  # (the most common read, so without the detour via `table`)
        if table in tables:
            return tables[table].get(key, default)
        raise UnknownTable(self.name, table, list(tables))

    def fetch(self, table: str, key: Any) -> Any:
        """The value for ``key``; `KeyError` naming the store and table if missing."""
        return self.table(table).fetch(key)

    def lookup(self, table: str, key: Any) -> list[Any]:
        """Every value for ``key`` (at most one in a set table)."""
        return self.table(table).lookup(key)

    def match(self, table: str, key: Any = ANY, value: Any = ANY) -> list[tuple[Any, Any]]:
        """Every (key, value) fitting the patterns; `ANY` is the wildcard."""
        return self.table(table).match(key, value)

    def select(self, table: str, predicate: Callable[[Any, Any], bool]) -> list[tuple[Any, Any]]:
        """Every (key, value) for which ``predicate(key, value)`` holds."""
        return self.table(table).select(predicate)

    def fold(self, table: str, function: Callable[[Any, Any, Any], Any], initial: Any) -> Any:
        """``function(accumulator, key, value)`` folded over the table."""
        return self.table(table).fold(function, initial)

    def size(self, table: str) -> int:
        """How many objects the table holds."""
        return self.table(table).size()

    def keys(self, table: str) -> list[Any]:
        """The table's keys (in order, for an ordered_set)."""
        return list(self.table(table).keys())

    # --- writes: serialized through the actor ---------------------------------------------

    async def put(self, table: str, key: Any, value: Any) -> None:
        """Store ``value`` under ``key`` (a bag adds it to the key's values).

        A key that cannot be stored (unhashable, or not comparable with an ordered_set's
        keys) raises `TypeError` here; nothing is written and the store carries on.
        """
        self.table(table)  # a wrong name fails here, in the caller, not in the store
        hash(key)
        _unwrap(await self.ref.call(_Put(table, key, value)))

    async def update(self, table: str, key: Any, function: Callable[[Any], Any]) -> Any:
        """Replace the value of ``key`` with ``function(value)`` and return it, atomically.

        Returns `NOT_FOUND` (and writes nothing) if ``key`` is missing. If ``function``
        raises, nothing is written, the store carries on, and the exception is raised here.
        Bags hold several values per key: update them with `delete` and `put`. A
        ``function`` that is not callable raises `ValueError` here.
        """
        check_callable("function", function)
        if isinstance(self.table(table), BagTable):
            raise TypeError(f"update works on set and ordered_set tables; {table!r} is a bag")
        return _unwrap(await self.ref.call(_Update(table, key, function)))

    async def delete(self, table: str, key: Any) -> bool:
        """Remove ``key`` (every value, in a bag); False if it was not there."""
        self.table(table)
        hash(key)
        deleted: bool = _unwrap(await self.ref.call(_Delete(table, key)))
        return deleted

    async def bulk_insert(self, table: str, items: Iterable[tuple[Any, Any]]) -> int:
        """Put every (key, value) of ``items`` in one write; return how many.

        Every item must be a pair with a hashable key, else `TypeError` or `ValueError`
        here and nothing is written. For an ordered_set, keys that cannot be ordered with
        the table's raise `TypeError` and nothing is written either.
        """
        self.table(table)
        pairs = [_pair(index, item) for index, item in enumerate(items)]
        count: int = _unwrap(await self.ref.call(_BulkInsert(table, pairs)))
        return count

    async def reload(self) -> None:
        """Run `load` into fresh tables and swap them in, all at once.

        Writes wait meanwhile; reads go on against the old tables. Raises
        `StoreLoadFailed` if `load` fails, and then the old tables stay.
        """
        outcome = await self.ref.call(_Reload(), timeout=None)
        if isinstance(outcome, _Raised):
            raise outcome.error

    async def handle_call(self, message: Any) -> Any:
        if isinstance(message, _Reload):
            return await self._reload()
        if isinstance(message, _Put | _Update | _Delete | _BulkInsert):
            try:
                return self._write(message)
            except Exception as exc:  # a bad key, or the update function: refused, no crash
                return _Raised(exc)
        return await super().handle_call(message)

    def _write(self, message: _Put | _Update | _Delete | _BulkInsert) -> Any:
        match message:
            case _Put(table, key, value):
                self.table(table)._put(key, value)
                self._wrote(table, "put", 1)
                return None
            case _Update(table, key, function):
                target = self.table(table)
                current = target.get(key, NOT_FOUND)
                if current is NOT_FOUND:
                    return NOT_FOUND
                new = function(current)
                target._put(key, new)
                self._wrote(table, "update", 1)
                return new
            case _Delete(table, key):
                deleted = self.table(table)._delete(key)
                if deleted:
                    self._wrote(table, "delete", 1)
                return deleted
            case _BulkInsert(table, items):
                target = self.table(table)
                if isinstance(target, OrderedSetTable):
                    target.check_order([key for key, _ in items])
                count = fill(target, items)
                if count:
                    self._wrote(table, "bulk_insert", count)
                return count

    async def _reload(self) -> _Raised | None:
        metadata = {"store": self.name}
        started = time.monotonic()
        telemetry.execute(
            ("slither", "store", "reload", "start"),
            {"monotonic_time": started, "system_time": time.time()},
            metadata,
        )
        try:
            fresh = await self._build()
        except StoreLoadFailed as error:
            self._reloaded(started, {**metadata, "ok": False, "error": error})
            return _Raised(error)
        self._tables = fresh  # the swap: one assignment, seen whole by every reader
        self._reloaded(started, {**metadata, "ok": True})
        return None

    def _reloaded(self, started: float, metadata: dict[str, Any]) -> None:
        ended = time.monotonic()
        measurements = {"monotonic_time": ended, "duration": ended - started}
        telemetry.execute(("slither", "store", "reload", "stop"), measurements, metadata)

    def _wrote(self, table: str, operation: str, count: int) -> None:
        telemetry.execute(
            ("slither", "store", "write"),
            {"count": count},
            {"store": self.name, "table": table, "operation": operation},
        )


def _checked_name(cls: Any, name: Any, registry: Any) -> str:
    """The name a store of class ``cls`` runs under, the three arguments checked."""
    if not (isinstance(cls, type) and issubclass(cls, Store)):
        raise ValueError(f"cls must be a Store subclass, not {cls!r:.60}")
    check_text("name", name, optional=True)
    check_instance("registry", registry, ViewRegistry, optional=True)
    return name or cls.default_name()


def _prepared(
    cls: type[Store],
    name: str,
    directory: StoreDirectory[Store] | None,
    registry: ViewRegistry | None,
) -> Store:
    store = cls()
    store.name = name
    store._directory = directory
    store._registry = registry
    return store


def store_child_spec(
    cls: type[Store],
    name: str | None = None,
    *,
    directory: StoreDirectory[Store] | None = None,
    registry: ViewRegistry | None = None,
) -> ChildSpec:
    """A child spec running a store of class ``cls`` (a fresh one, freshly loaded, at
    every start), listed in ``directory`` and its global views in ``registry``.
    Raises `ValueError` for arguments of the wrong kind, as `open_store` does."""
    name = _checked_name(cls, name, registry)
    factory = functools.partial(_prepared, cls, name, directory, registry)
    return ChildSpec.actor(f"store {name}", factory)


@asynccontextmanager
async def open_store(
    cls: type[Store], name: str | None = None, *, registry: ViewRegistry | None = None
) -> AsyncIterator[Store]:
    """Run a store for the duration of the block, outside any runtime; stop it after.

    Raises `StoreLoadFailed` if its first `load` fails, and `ValueError` before anything
    starts for a ``cls`` that is not a `Store` subclass, a ``name`` that is not None or a
    non-empty str, or a ``registry`` that is not a `ViewRegistry`.
    """
    require_trio("open_store")
    store = _prepared(cls, _checked_name(cls, name, registry), None, registry)
    async with open_own_nursery() as nursery:
        await nursery.start(run_actor, store)
        try:
            yield store
        finally:
            store.ref.request_stop()
