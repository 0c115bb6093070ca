"""What the ``data_etl`` demo runs inside worker processes: rows checked against a schema.

A schema is a version and its rules, plain data that travels as msgpack. `problems_of` is
the whole validator, a pure function the threaded baselines share. `validate_rows` is the
worker stage: it asks the parent for the schema once per batch, through the store view
``schema_snapshot``, which answers with the version and its rules together, so every row of
the batch is judged by one schema and records which.

Import-light on purpose (no trio): the pool preloads it.
"""

from __future__ import annotations

from typing import Any

from slither_actors import worker

SCHEMA_VIEW = "schema_snapshot"

_LENIENT: dict[str, Any] = {
    "required": ["name", "email", "age", "amount", "currency"],
    "min_age": 0,
    "max_age": 130,
    "max_amount": 1_000_000.0,
    "email_domain_needs_dot": False,
    "currencies": ["USD", "EUR", "GBP"],
}
_STRICT: dict[str, Any] = {
    **_LENIENT,
    "min_age": 18,
    "max_age": 120,
    "max_amount": 10_000.0,
    "email_domain_needs_dot": True,
}

# This process's own count of the rows it has validated: every worker keeps its own, and
# the parent gathers them with a broadcast.
_validated = 0


def rules_of(version: int) -> dict[str, Any]:
    """The rules of schema ``version``: 1 is lenient, 2 strict, and from 3 on the strict rules
    with a second currency that flips: EUR in odd versions, GBP in even ones."""
    if version < 1:
        raise ValueError(f"schema versions start at 1, not {version}")
    if version == 1:
        return _LENIENT
    if version == 2:
        return _STRICT
    return {**_STRICT, "currencies": ["USD", "EUR" if version % 2 else "GBP"]}


def problems_of(row: dict[str, Any], rules: dict[str, Any]) -> list[str]:
    """What is wrong with a prepared row under ``rules``; an empty list for a valid row."""
    problems = [f"missing {field}" for field in rules["required"] if row.get(field) in (None, "")]
    age = row.get("age")
    if age is not None and not isinstance(age, int):
        problems.append(f"age {age!r} is not a whole number")
    elif isinstance(age, int) and not rules["min_age"] <= age <= rules["max_age"]:
        problems.append(f"age {age} outside {rules['min_age']}-{rules['max_age']}")
    amount = row.get("amount")
    if isinstance(amount, float) and not 0 <= amount <= rules["max_amount"]:
        problems.append(f"amount {amount:.2f} outside 0-{rules['max_amount']:.0f}")
    email = row.get("email")
    if email:
        _, at, domain = email.partition("@")
        if not at:
            problems.append("email has no @")
        elif rules["email_domain_needs_dot"] and "." not in domain:
            problems.append(f"email domain {domain!r} has no dot")
    currency = row.get("currency")
    if currency and currency not in rules["currencies"]:
        problems.append(f"currency {currency} not accepted")
    return problems


def judge(rows: list[dict[str, Any]], version: int, rules: dict[str, Any]) -> list[dict[str, Any]]:
    """Each row with the schema version it was judged by, whether it is valid, and why not."""
    judged = []
    for row in rows:
        problems = problems_of(row, rules)
        judged.append({**row, "version": version, "valid": not problems, "problems": problems})
    return judged


def validate_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The worker stage: judge a batch of rows against the schema in force right now.

    The schema comes in one view call, version and rules in one reply: two calls, one for
    each, could straddle a schema change and judge rows by rules their version does not have.
    """
    global _validated
    schema = worker.call_view(SCHEMA_VIEW)
    judged = judge(rows, schema["version"], schema["rules"])
    _validated += len(judged)
    return judged


def validations_done(payloads: list[Any]) -> list[dict[str, int]]:
    """For a broadcast: this worker's id and how many rows it has validated."""
    return [{"worker": worker.worker_id(), "validations": _validated} for _ in payloads]
