"""Demo ``data_etl``: 15,000 CSV rows validated against a schema that changes under them.

The schema, a version and its rules, lives in a `Store`. Three phases of 5,000 rows go
through one pipe:

    prepare (local) -> validate (worker, batches of 100) -> audit (local) -> transform (local)
    -> route: valid rows to ``valid``, invalid ones to ``invalid``

Phase 1 runs under schema v1 (lenient), phase 2 under v2 (stricter), each put in force by
`Store.reload`; phase 3 starts under v3 while a task flips the schema 20 times by writing
to the store, as the rows go through. A worker reads the schema once per batch through the
view ``schema_snapshot``, which returns the version and its rules in one reply, so every
row is judged by one consistent schema and records which. Every validation leaves one audit
entry, written by the parent into the ``AuditLog`` store; the workers count their own
validations, gathered at the end with a broadcast.

The checks recompute each row's verdict under the version it recorded, from the defect
planted in it (``data_etl_rows.designed_valid``), and count rows, validations and audit
entries. The threaded baselines are in ``data_etl_threads``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs
import trio

import slither_actors as sa
from slither_actors.examples._workload import Check, Options, Workload, check
from slither_actors.examples.data_etl_rows import (
    EtlData,
    EtlOutcome,
    designed_valid,
    make_data,
    parse_line,
    transform_row,
)
from slither_actors.examples.data_etl_threads import BATCH_SIZE, threaded
from slither_actors.examples.data_etl_work import SCHEMA_VIEW, rules_of

__all__ = ["WORKLOAD", "AuditLog", "DataEtl", "SchemaSource", "SchemaStore", "run_etl"]

WORK = "slither_actors.examples.data_etl_work"
POOL = "etl"


@attrs.define
class SchemaSource:
    """Where the schema is published: it stands in for a schema registry or a file. The
    store reads it on each load."""

    version: int = 1

    def publish(self, version: int) -> None:
        """Make ``version`` the published schema (the store sees it on its next reload)."""
        rules_of(version)  # raises for a version that does not exist
        self.version = version


SCHEMA_SOURCE = SchemaSource()


def schema_entries(version: int) -> list[tuple[str, Any]]:
    """The schema table's contents for ``version``: its number and its rules."""
    return [("version", version), ("rules", rules_of(version))]


class SchemaStore(sa.Store):
    """The schema in force: two keys, ``version`` and ``rules``, always changed together."""

    tables = (sa.Table("schema", "set"),)

    async def load(self, tables: Mapping[str, sa.TableLoader]) -> None:
        """Load the published schema (at start, and on each reload)."""
        tables["schema"].put_many(schema_entries(SCHEMA_SOURCE.version))

    async def switch_to(self, version: int) -> None:
        """Put schema ``version`` in force with one write: both keys or neither."""
        await self.bulk_insert("schema", schema_entries(version))

    @sa.view(name=SCHEMA_VIEW)
    def schema_snapshot(self, params: dict[str, Any], ctx: sa.Context) -> dict[str, Any]:
        """The version and its rules, read together. The handler runs in the Trio thread
        and never awaits, so no write can land between the two reads: they are one snapshot."""
        return {"version": self.fetch("schema", "version"), "rules": self.fetch("schema", "rules")}


class AuditLog(sa.Store):
    """One entry per validation: row id -> ``{"version", "valid"}``. A duplicate_bag keeps
    every entry, so a row audited twice shows as two."""

    tables = (sa.Table("audit", "duplicate_bag"),)


def prepare(items: list[sa.Item], ctx: sa.Context) -> list[dict[str, Any]]:
    """Parse each CSV line into a row (a batch handler: one call for every chunk)."""
    return [parse_line(item.payload) for item in items]


async def audit(items: list[sa.Item], ctx: sa.Context) -> list[sa.Item]:
    """Write one audit entry per validated row, the chunk in one store write; the items go
    on unchanged."""
    entries = [
        (item.payload["id"], {"version": item.payload["version"], "valid": item.payload["valid"]})
        for item in items
    ]
    await sa.current_runtime().store(AuditLog).bulk_insert("audit", entries)
    return items


def transform(item: sa.Item, ctx: sa.Context) -> dict[str, Any]:
    """A valid row as it is loaded (email in lower case, amount in cents); an invalid one
    goes on as it is."""
    return transform_row(item.payload)


class DataEtl(sa.Pipe):
    """CSV lines in; valid rows, transformed, out through ``valid``, the others through
    ``invalid``. Its runs may call the views of `SchemaStore`."""

    stages = [
        sa.LocalStage("prepare", batch_handler=prepare),
        sa.WorkerStage(
            "validate",
            module=WORK,
            function="validate_rows",
            pool=POOL,
            batch_size=BATCH_SIZE,
            max_in_flight=4,
        ),
        sa.LocalStage("audit", batch_handler=audit),
        sa.LocalStage("transform", transform),
        sa.RouterStage(
            "route",
            [(lambda item: item.payload["valid"], "valid"), (lambda item: True, "invalid")],
        ),
    ]
    outputs = ["valid", "invalid"]
    stores = [SchemaStore]
    on_error = {"*": "skip"}  # a failed row ends in an error record, which the checks count


@attrs.define(eq=False)
class AuditWatch:
    """Wakes a waiting task whenever the audit log is written, as telemetry reports it."""

    audit_log: AuditLog
    written: trio.Event = attrs.Factory(trio.Event)

    def on_write(self, event: Any, measurements: Any, metadata: Any, config: Any) -> None:
        """The telemetry handler: a write to the audit log wakes the waiter."""
        if metadata["store"] == self.audit_log.name:
            self.written.set()

    async def wait_for(self, entries: int) -> None:
        """Return once the audit log holds ``entries`` entries."""
        while self.audit_log.size("audit") < entries:
            self.written = trio.Event()  # made before any await: no write can be missed
            await self.written.wait()


async def flip_schema(
    schema: SchemaStore, audit_log: AuditLog, first: int, flips: int, rows: int
) -> None:
    """Flip the schema ``flips`` times, to ``first + 1``, ``first + 2``, ...: each time another
    ``rows // (flips + 1)`` rows have been audited, so the flips land while rows are in
    flight, however fast the machine."""
    watch = AuditWatch(audit_log)
    handler_id = f"data_etl flipper {id(watch)}"
    sa.telemetry.attach(handler_id, [("slither", "store", "write")], watch.on_write)
    try:
        start = audit_log.size("audit")
        for flip in range(1, flips + 1):
            await watch.wait_for(start + flip * rows // (flips + 1))
            await schema.switch_to(first + flip)
    finally:
        sa.telemetry.detach(handler_id)


async def run_etl(runtime: sa.Runtime, data: EtlData, options: Options) -> EtlOutcome:
    """The three phases: reload the schema, run the rows through the pipe (in phase 3 with
    the flipper beside it); then gather the audit trail and the workers' counts."""
    schema = runtime.store(SchemaStore)
    audit_log = runtime.store(AuditLog)
    assert isinstance(schema, SchemaStore) and isinstance(audit_log, AuditLog)
    outcome = EtlOutcome()
    for phase in data.phases:
        first, flips = phase.versions[0], len(phase.versions) - 1
        SCHEMA_SOURCE.publish(first)
        await schema.reload()
        async with trio.open_nursery() as nursery:
            if flips:
                nursery.start_soon(flip_schema, schema, audit_log, first, flips, len(phase.lines))
            result = await sa.run_pipe(DataEtl, phase.lines, progress=options.bar(phase.name))
            nursery.cancel_scope.cancel()  # the flips are for rows in flight, and none are left
        outcome.flips += schema.fetch("schema", "version") - first
        outcome.valid.extend(result.payloads("valid"))
        outcome.invalid.extend(result.payloads("invalid"))
        outcome.errors.extend(_row_id(record.item.payload) for record in result.errors)
    pool = await runtime.pool(POOL)
    for reply in await pool.broadcast(f"{WORK}:validations_done"):
        outcome.validations[f"worker {reply.worker_id}"] = reply.value["validations"]
    outcome.audit = [{"id": row_id, **entry} for row_id, entry in audit_log.table("audit").items()]
    return outcome


def _row_id(payload: Any) -> int:
    """The row id of a payload at any stage: a CSV line or a row."""
    return payload["id"] if isinstance(payload, dict) else int(str(payload).split(",", 1)[0])


def settings(options: Options) -> sa.Settings:
    """Both stores, and a pool of ``options.workers`` workers with the validator preloaded."""
    here = "slither_actors.examples.data_etl"
    return sa.Settings(
        stores=(f"{here}:SchemaStore", f"{here}:AuditLog"),
        pools=(sa.PoolSettings(name=POOL, size=options.workers, preload=(WORK,)),),
    )


def recorded_verdicts(outcome: EtlOutcome) -> list[tuple[int, int, bool]]:
    """Every output row as ``(id, version, valid)``."""
    return [(row["id"], row["version"], True) for row in outcome.valid] + [
        (row["id"], row["version"], False) for row in outcome.invalid
    ]


def check_run(data: EtlData, outcome: EtlOutcome) -> list[Check]:
    """The invariants, the same for every mode."""
    # A row id the data does not have is the first check's to report; the others skip it.
    verdicts = [verdict for verdict in recorded_verdicts(outcome) if verdict[0] in data.defects]
    return [
        _one_fate(data, outcome),
        _versions_follow_reloads(data, verdicts),
        _one_snapshot_per_row(data, verdicts),
        _audited_once(data, outcome),
        _invalid_shares(data, verdicts),
    ]


def _one_fate(data: EtlData, outcome: EtlOutcome) -> Check:
    fates = Counter(row_id for row_id, _, _ in recorded_verdicts(outcome))
    fates.update(outcome.errors)
    lost = sum(1 for row_id in data.defects if fates[row_id] == 0)
    twice = sum(1 for count in fates.values() if count > 1)
    strays = sum(1 for row_id in fates if row_id not in data.defects)
    once = sum(1 for row_id in data.defects if fates[row_id] == 1)
    detail = (
        f"{once:,} of {data.rows:,} rows in one output: {len(outcome.valid):,} valid + "
        f"{len(outcome.invalid):,} invalid + {len(outcome.errors):,} errors"
    )
    if lost or twice or strays:
        detail += f"; {lost:,} lost, {twice:,} more than once, {strays:,} unknown"
    return check("every row has one fate", not (lost or twice or strays), detail)


def _versions_follow_reloads(data: EtlData, verdicts: list[tuple[int, int, bool]]) -> Check:
    wrong = [
        (row_id, version)
        for row_id, version, _ in verdicts
        if version not in data.phase_of(row_id).versions
    ]
    parts = [f"{phase.name} by {_versions(phase.versions)}" for phase in data.phases]
    detail = f"rows judged: {', '.join(parts)}"
    if wrong:
        row_id, version = wrong[0]
        detail += (
            f"; {len(wrong):,} rows judged by a version not of their phase "
            f"(row {row_id}: v{version})"
        )
    return check("schema reloads took effect", not wrong, detail)


def _versions(versions: range) -> str:
    return f"v{versions[0]}" if len(versions) == 1 else f"v{versions[0]}-v{versions[-1]}"


def _one_snapshot_per_row(data: EtlData, verdicts: list[tuple[int, int, bool]]) -> Check:
    """A batch judged by one version's rules but recorded under another shows: about one row
    in ten of a phase 3 batch (its EUR or GBP rows) gets the other verdict."""
    torn = [
        (row_id, version, valid)
        for row_id, version, valid in verdicts
        if valid != designed_valid(data.defects.get(row_id), version)
    ]
    agree = len(verdicts) - len(torn)
    detail = f"{agree:,} of {len(verdicts):,} verdicts are those of the version recorded"
    if torn:
        row_id, version, valid = torn[0]
        verdict = "valid" if valid else "invalid"
        detail += f"; {len(torn):,} are not (row {row_id}: {verdict} under v{version})"
    return check("one schema snapshot per row", not torn, detail)


def _audited_once(data: EtlData, outcome: EtlOutcome) -> Check:
    validations = sum(outcome.validations.values())
    entries = Counter(entry["id"] for entry in outcome.audit)
    once = sum(1 for row_id in data.defects if entries[row_id] == 1)
    counts = ", ".join(f"{name} {count:,}" for name, count in outcome.validations.items())
    detail = (
        f"{validations:,} validations ({counts}) = {len(outcome.audit):,} audit entries = "
        f"{data.rows:,} rows; {once:,} rows audited once"
    )
    passed = validations == len(outcome.audit) == data.rows == once
    return check("validations = audit entries = rows", passed, detail)


def _invalid_shares(data: EtlData, verdicts: list[tuple[int, int, bool]]) -> Check:
    """Phases 1 and 2 are exact by design; phase 3 depends on which versions judged its EUR
    and GBP rows, which alternate, so each batch's share is off by one row at most."""
    invalid = Counter(data.phase_of(row_id).name for row_id, _, valid in verdicts if not valid)
    parts, passed = [], True
    for phase in data.phases:
        share = invalid[phase.name] / len(phase.lines)
        passed = passed and abs(share - phase.designed_invalid) <= 0.03
        parts.append(f"{phase.name} {share:.1%} ({phase.designed_invalid:.0%})")
    detail = f"{', '.join(parts)}; designed in brackets, 3 points allowed"
    return check("invalid share per phase as designed", passed, detail)


def figures(data: EtlData, outcome: EtlOutcome) -> dict[str, Any]:
    """The schema flips made while phase 3 ran, and how many versions its rows were judged by."""
    last = data.phases[-1]
    used = {
        version
        for row_id, version, _ in recorded_verdicts(outcome)
        if row_id in data.defects and data.phase_of(row_id) is last
    }
    return {"schema flips in flight": outcome.flips, "phase-3 versions used": len(used)}


WORKLOAD = Workload(
    name="data_etl",
    summary="15,000 rows against a schema Store hot-reloaded v1 -> v2 and flipped 20 times "
    "in flight; one schema version per row; validations = audit entries = rows",
    make_data=make_data,
    settings=settings,
    slither=run_etl,
    threaded=threaded,
    check=check_run,
    count=lambda data: data.rows,
    figures=figures,
    stages=("prepare", "validate", "audit", "transform", "route"),
)
