"""The package surface: every public name resolves, and worker processes stay light."""

from __future__ import annotations

import ast
import os
import pickle
import subprocess
import sys
import typing
from pathlib import Path

import attrs
import pytest

import slither_actors as sa

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_resolves() -> None:
    missing = [name for name in sa.__all__ if getattr(sa, name, None) is None]
    assert missing == []
    assert set(sa.__all__) <= set(dir(sa))


def test_worker_processes_import_no_trio_cattrs_or_actor_core() -> None:
    """Workers import slither_actors.worker and the protocol at start-up; keeping trio and
    the actor machinery out is what lets a pool be ready in well under a second."""
    code = (
        "import sys, slither_actors.worker, slither_actors._pool.protocol;"
        "print(sorted(m for m in ('trio', 'cattrs', 'slither_actors._core') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def names_type_checkers_see() -> dict[str, str]:
    """The names the package's ``if TYPE_CHECKING:`` block imports, with their modules."""
    tree = ast.parse((ROOT / "slither_actors" / "__init__.py").read_text())
    seen: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "_typing.TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                for alias in statement.names:
                    assert alias.asname == alias.name  # a re-export: `X as X`
                    module = statement.module
                    if module == "slither_actors":  # a public submodule
                        module = f"slither_actors.{alias.name}"
                    seen[alias.name] = module
    return seen


def test_type_checkers_see_exactly_the_public_names_from_their_homes() -> None:
    assert names_type_checkers_see() == sa._HOMES
    assert sa.__all__ == sorted(sa._HOMES)


def test_no_helper_of_the_package_shows_as_a_public_name() -> None:
    for name in sa.__all__:
        getattr(sa, name)  # every public name loaded, every submodule it needs imported
    submodules = {
        name for name in dir(sa) if isinstance(getattr(sa, name, None), type(sys))
    }
    extra = {name for name in dir(sa) if not name.startswith("_")} - set(sa.__all__) - submodules
    assert extra == set()
    for leaked in ("Any", "TYPE_CHECKING", "annotations", "importlib", "logging"):
        assert not hasattr(sa, leaked), leaked


def test_mypy_rejects_an_unknown_name_and_types_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mypy import api

    (tmp_path / "uses.py").write_text(
        "import slither_actors as sa\n"
        "settings: int = sa.PoolSettings()\n"  # an error only if PoolSettings is not Any
        "sa.PoolSetings\n"  # a typo
    )
    monkeypatch.setenv("MYPYPATH", str(ROOT))  # the package as it is here, not as installed
    report, _, status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            str(tmp_path / "uses.py"),
        ]
    )
    assert status == 1
    lines = [line for line in report.splitlines() if "uses.py" in line]
    assert any('has type "PoolSettings", variable has type "int"' in line for line in lines)
    assert any('has no attribute "PoolSetings"' in line for line in lines)
    assert len(lines) == 2, report


def import_graph() -> dict[str, set[str]]:
    """Which package modules each module imports, type-only imports included; the top
    package is left out (it imports everything, lazily, for type checkers only)."""
    package = ROOT / "slither_actors"
    graph: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if name == "slither_actors":
            continue
        graph[name] = {
            node.module
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom)
            and node.module is not None
            and node.module.startswith("slither_actors.")
        }
    return graph


def test_no_module_imports_one_that_imports_it_back() -> None:
    # Even for types only: such a circle (store's directory, store and views used to be
    # one) means neither module can be read, or tested, without the other.
    graph = import_graph()
    circles = []
    for start in graph:
        seen, stack = set(), [start]
        while stack:
            module = stack.pop()
            for imported in graph.get(module, ()):
                if imported == start:
                    circles.append(start)
                elif imported not in seen:
                    seen.add(imported)
                    stack.append(imported)
    assert sorted(set(circles)) == []


def test_public_classes_and_functions_say_they_are_slither_actors() -> None:
    """Reprs, tracebacks, help() and pickles show the name a user imports, not the private
    module that defines it (and may move)."""
    values = {name: getattr(sa, name) for name in sa.__all__}
    checked = 0
    for name, value in values.items():
        if isinstance(value, type(sys)) or not callable(value):
            continue  # a submodule or a constant
        assert not value.__module__.startswith("slither_actors._"), (name, value.__module__)
        if value.__module__ == "slither_actors":
            checked += 1
            assert repr(value).startswith(("<class 'slither_actors.", "<function ", "<enum "))
            assert pickle.loads(pickle.dumps(value)) is value, name
    assert checked > 50  # the private homes' names, not only the public modules'
    assert repr(sa.WorkerPool) == "<class 'slither_actors.WorkerPool'>"


def test_a_name_is_published_with_its_home_however_it_was_reached() -> None:
    """`sa.dispatch` returns `Results`, never asked for by name: it says where it is too."""
    code = (
        "import slither_actors as sa\n"
        "sa.dispatch\n"
        "from slither_actors._dispatch import Results\n"
        "print(Results.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "slither_actors"


def test_type_hints_of_public_classes_and_users_subclasses_still_resolve() -> None:
    """Annotations are strings, read in the globals of the class's module: publishing kept
    them resolved, so typing (and cattrs, attrs.resolve_types) still read them."""

    @attrs.define
    class Counter(sa.Actor):
        count: int = 0

    hints = typing.get_type_hints(Counter)
    assert (hints["count"] is int and "mailbox_size" in hints) or "count" in hints
    assert typing.get_type_hints(sa.Recover)["function"] is not None
    assert typing.get_type_hints(sa.PoolStats)
