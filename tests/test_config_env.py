"""Settings from SLITHER_ environment variables: the names, the strict parsing, the errors
that name the variable, and where they apply (on top of every source, env winning)."""

from __future__ import annotations

import enum
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import attrs
import pytest

import slither_actors as sa
from slither_actors.config import settings_in_use


def with_env(environ: dict[str, str], base: sa.Settings | None = None) -> sa.Settings:
    return (base or sa.Settings()).with_env(environ)


def problems_of(environ: dict[str, str], base: sa.Settings | None = None) -> list[str]:
    with pytest.raises(sa.ConfigError) as caught:
        with_env(environ, base)
    assert caught.value.source == "the environment"
    return caught.value.problems


def test_a_variable_sets_the_field_its_path_names_with_double_underscores() -> None:
    settings = with_env(
        {
            "SLITHER_DISPATCH__BATCH_SIZE": "128",
            "SLITHER_DISPATCH__ORDERING": "as_completed",
            "SLITHER_BRIDGE__DEFAULT_SCOPE": "global",
            "SLITHER_METRICS__PROMETHEUS": "true",
            "SLITHER_STATUS__ADDRESS": "127.0.0.1:9100",
            "SLITHER_STORES": "myapp.stores:Features, myapp.stores:Prices",
        }
    )
    assert settings.dispatch == sa.DispatchSettings(
        batch_size=128, ordering=sa.Ordering.AS_COMPLETED
    )
    assert settings.bridge.default_scope is sa.ViewScope.GLOBAL
    assert settings.metrics == sa.MetricsSettings(prometheus=True)
    assert settings.status == sa.StatusSettings("127.0.0.1:9100")
    assert settings.stores == ("myapp.stores:Features", "myapp.stores:Prices")


def test_without_variables_the_settings_are_unchanged() -> None:
    base = sa.Settings(dispatch=sa.DispatchSettings(batch_size=3))
    assert with_env({}, base) == base
    assert with_env({"PATH": "/bin", "HOME": "/root"}, base) == base


def text_of(value: Any) -> str:
    """How a variable writes ``value``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value.value if isinstance(value, enum.Enum) else value)


def every_variable() -> list[tuple[str, str, Any]]:
    """(variable, owner attribute path, field) for every field a variable can set."""
    found = []
    for section in ("dispatch", "bridge", "metrics", "status"):
        for field in attrs.fields(type(getattr(sa.Settings(), section))):
            found.append((f"SLITHER_{section.upper()}__{field.name.upper()}", section, field))
    for field in attrs.fields(sa.PoolSettings):
        # The name finds the pool; the dicts (env, ray_resources) are set entry by entry.
        if field.name not in ("name", "env", "ray_resources"):
            found.append((f"SLITHER_POOLS__DEFAULT__{field.name.upper()}", "pools", field))
    return found


@pytest.mark.parametrize(
    ("variable", "section", "field"), every_variable(), ids=[row[0] for row in every_variable()]
)
def test_every_field_is_reached_by_a_variable_that_writes_its_value_as_text(
    variable: str, section: str, field: Any
) -> None:
    owner = sa.PoolSettings() if section == "pools" else getattr(sa.Settings(), section)
    value = getattr(owner, field.name)
    settings = with_env({variable: text_of(value)})
    changed = settings.pools[0] if section == "pools" else getattr(settings, section)
    assert getattr(changed, field.name) == value


@pytest.mark.parametrize(
    ("variable", "text", "problem"),
    [
        ("SLITHER_DISPATCH__BATCH_SIZE", "abc", "expected int"),
        ("SLITHER_DISPATCH__BATCH_SIZE", "1.5", "expected int"),
        ("SLITHER_DISPATCH__BATCH_SIZE", "", "expected int"),
        ("SLITHER_DISPATCH__BATCH_SIZE", " 5", "expected int"),
        ("SLITHER_DISPATCH__BATCH_SIZE", "0", "batch_size must be an int, 1 or more, not 0"),
        ("SLITHER_POOLS__DEFAULT__CALL_TIMEOUT", "soon", "expected float"),
        ("SLITHER_POOLS__DEFAULT__CALL_TIMEOUT", "nan", "expected float"),
        (
            "SLITHER_POOLS__DEFAULT__HEARTBEAT_TIMEOUT",
            "inf",
            "heartbeat_timeout must be a number of seconds above 0, finite, not inf",
        ),
        ("SLITHER_METRICS__OTEL", "yes", "expected true, false, 1 or 0"),
        ("SLITHER_METRICS__OTEL", "True", "expected true, false, 1 or 0"),
        (
            "SLITHER_DISPATCH__ON_ERROR",
            "HALT",
            "expected one of 'halt', 'skip', got 'HALT'",
        ),
        ("SLITHER_POOLS__DEFAULT__PYTHON", "", "python must not be empty"),
        ("SLITHER_STORES", "a:B,,c:D", "expected a comma-separated list with no empty entry"),
        (
            "SLITHER_STATUS__ADDRESS",
            "localhost",
            "expected an address as host:port, such as 127.0.0.1:9100, not 'localhost'",
        ),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable_and_the_value(
    variable: str, text: str, problem: str
) -> None:
    assert problems_of({variable: text}) == [f"{variable}={text!r}: {problem}"]


def test_an_empty_value_sets_an_optional_field_to_none_and_a_list_to_empty() -> None:
    base = sa.Settings(
        stores=("a:B",),
        pools=(sa.PoolSettings(size=2, cwd="/srv", preload=("numpy",)),),
        status=sa.StatusSettings("127.0.0.1:9100"),
    )
    environ = {
        "SLITHER_STORES": "",
        "SLITHER_POOLS__DEFAULT__SIZE": "",
        "SLITHER_POOLS__DEFAULT__CWD": "",
        "SLITHER_POOLS__DEFAULT__PRELOAD": "",
        "SLITHER_STATUS__ADDRESS": "",
    }
    settings = with_env(environ, base)
    assert settings.stores == () and settings.status.address is None
    assert (settings.pools[0].size, settings.pools[0].cwd, settings.pools[0].preload) == (
        None,
        None,
        (),
    )


UPPER_CASE_AND_LEVELS = (
    "names are in upper case, levels joined by a double underscore: SLITHER_STORES, "
    "SLITHER_DISPATCH__<FIELD>, SLITHER_BRIDGE__<FIELD>, SLITHER_POOLS__<NAME>__<FIELD>, "
    "SLITHER_METRICS__<FIELD>, SLITHER_STATUS__<FIELD>"
)


DISPATCH = "SLITHER_DISPATCH__<FIELD> sets a field of dispatch"
POOLS = "SLITHER_POOLS__<NAME>__<FIELD> sets a field of pools"


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        (
            "SLITHER_DISPATCH__BATCHSIZE",
            "SLITHER_DISPATCH__<FIELD> sets a field of dispatch, FIELD one of BATCH_SIZE, "
            "MAX_IN_FLIGHT, ORDERING, ON_ERROR",
        ),
        ("SLITHER_DISPATCH", DISPATCH),
        ("SLITHER_DISPATCH__BATCH_SIZE__MORE", DISPATCH),
        ("SLITHER_DISPATCH__batch_size", DISPATCH),
        ("SLITHER_DISPATCH_BATCH_SIZE", UPPER_CASE_AND_LEVELS),
        ("slither_dispatch__batch_size", UPPER_CASE_AND_LEVELS),
        ("SLITHER_STATUS_ADDRESS", UPPER_CASE_AND_LEVELS),
        ("SLITHER_STORES__0", "SLITHER_STORES sets stores whole"),
        (
            "SLITHER_POOLS",
            "SLITHER_POOLS__<NAME>__<FIELD> sets a field of pools, FIELD one of SIZE, PYTHON, ENV",
        ),
        ("SLITHER_POOLS__DEFAULT", POOLS),
        ("SLITHER_POOLS__DEFAULT__NAME", POOLS),
        ("SLITHER_POOLS__DEFAULT__ENV", POOLS),
        ("SLITHER_POOLS__DEFAULT__SIZES", POOLS),
    ],
)
def test_an_unknown_name_under_a_section_is_an_error_saying_which_names_there_are(
    variable: str, hint: str
) -> None:
    (problem,) = problems_of({variable: "1"})
    assert problem.startswith(f"{variable}: not a setting; {hint}")


@pytest.mark.parametrize(
    "variable",
    [
        "SLITHER_CHAOS_MARKER",
        "SLITHER_REQUIRE_BROWSER",
        "SLITHER_",
        "SLITHER",
        "SLITHERING",
        "SLITHER_DISPATCHER",  # not SLITHER_DISPATCH followed by an underscore
        "MY_SLITHER_DISPATCH__BATCH_SIZE",
    ],
)
def test_other_variables_are_not_settings_and_are_left_alone(variable: str) -> None:
    assert with_env({variable: "anything"}) == sa.Settings()


def test_every_bad_variable_is_reported_at_once_in_name_order() -> None:
    problems = problems_of(
        {
            "SLITHER_METRICS__OTEL": "yes",
            "SLITHER_DISPATCH__BATCHSIZE": "3",
            "SLITHER_DISPATCH__MAX_IN_FLIGHT": "0",
            "SLITHER_DISPATCH__BATCH_SIZE": "8",  # good: not reported
        }
    )
    assert [problem.partition(":")[0].partition("=")[0] for problem in problems] == [
        "SLITHER_DISPATCH__BATCHSIZE",
        "SLITHER_DISPATCH__MAX_IN_FLIGHT",
        "SLITHER_METRICS__OTEL",
    ]
    with pytest.raises(sa.ConfigError, match=r"^invalid settings in the environment:\n  - "):
        with_env({"SLITHER_METRICS__OTEL": "yes"})


def test_fields_that_are_only_wrong_together_are_reported_with_every_variable() -> None:
    (alone,) = problems_of({"SLITHER_STATUS__ADDRESS": "0.0.0.0:9100"})
    assert alone.startswith("SLITHER_STATUS__ADDRESS='0.0.0.0:9100': status address")
    public = sa.Settings(status=sa.StatusSettings("0.0.0.0:9100", public=True))
    (together,) = problems_of({"SLITHER_STATUS__PUBLIC": "false"}, public)
    assert together.startswith("SLITHER_STATUS__PUBLIC='false': status address '0.0.0.0:9100'")
    both = {"SLITHER_STATUS__ADDRESS": "0.0.0.0:9100", "SLITHER_STATUS__PUBLIC": "true"}
    assert with_env(both).status == sa.StatusSettings("0.0.0.0:9100", public=True)


def test_a_variable_sets_a_field_of_the_configured_pool_its_name_reads() -> None:
    base = sa.Settings(
        pools=(
            sa.PoolSettings(name="default", size=4),
            sa.PoolSettings(name="ingest-fast", size=2, env={"KEEP": "1", "MODE": "a"}),
        )
    )
    settings = with_env(
        {
            "SLITHER_POOLS__INGEST_FAST__SIZE": "3",
            "SLITHER_POOLS__INGEST_FAST__AFFINITY": "strict",
            "SLITHER_POOLS__INGEST_FAST__ENV__MODE": "b",
            "SLITHER_POOLS__INGEST_FAST__ENV__NEW__ONE": "2",
        },
        base,
    )
    default, ingest = settings.pools
    assert default == base.pools[0]
    assert (ingest.name, ingest.size, ingest.affinity) == ("ingest-fast", 3, sa.Affinity.STRICT)
    assert ingest.env == {"KEEP": "1", "MODE": "b", "NEW__ONE": "2"}


def test_the_default_pool_is_configured_by_its_variables_when_the_settings_have_none() -> None:
    settings = with_env({"SLITHER_POOLS__DEFAULT__SIZE": "2", "SLITHER_POOLS__DEFAULT__ENV__A": ""})
    assert settings.pools == (sa.PoolSettings(name="default", size=2, env={"A": ""}),)
    other = sa.Settings(pools=(sa.PoolSettings(name="gpu"),))
    assert [pool.name for pool in with_env({"SLITHER_POOLS__DEFAULT__SIZE": "2"}, other).pools] == [
        "gpu",
        "default",
    ]


def test_a_variable_for_a_pool_nobody_configured_is_an_error_not_a_new_pool() -> None:
    base = sa.Settings(pools=(sa.PoolSettings(name="ingest-fast"),))
    (problem,) = problems_of({"SLITHER_POOLS__INGEST__SIZE": "2"}, base)
    assert problem == (
        "SLITHER_POOLS__INGEST__SIZE: no pool's name reads INGEST (configured: 'ingest-fast' as "
        "INGEST_FAST; the default pool as DEFAULT); a variable sets a field of a configured "
        "pool or of the default one, and adds no other pool"
    )
    assert "no pool's name reads default" in problems_of({"SLITHER_POOLS__default__SIZE": "2"})[0]


def test_two_pools_whose_names_read_the_same_cannot_be_told_apart() -> None:
    base = sa.Settings(pools=(sa.PoolSettings(name="a-b"), sa.PoolSettings(name="a_b")))
    assert problems_of({"SLITHER_POOLS__A_B__SIZE": "2"}, base) == [
        "SLITHER_POOLS__A_B__SIZE: the pools 'a-b' and 'a_b' both read A_B in a variable name; "
        "rename one"
    ]


def test_applying_the_same_variables_twice_changes_nothing_more() -> None:
    environ = {"SLITHER_POOLS__DEFAULT__SIZE": "2", "SLITHER_POOLS__DEFAULT__ENV__A": "1"}
    once = with_env(environ)
    assert with_env(environ, once) == once


def test_with_env_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLITHER_DISPATCH__MAX_IN_FLIGHT", "3")
    assert sa.Settings().with_env().dispatch.max_in_flight == 3


# Where the variables apply: load_settings, and so open_runtime, run and the run command.


def test_the_environment_wins_over_a_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "slither.toml").write_text(
        "[dispatch]\nbatch_size = 16\nmax_in_flight = 2\n\n[[pools]]\nname = 'gpu'\nsize = 1\n"
    )
    (tmp_path / "pyproject.toml").write_text("[tool.slither_actors.dispatch]\nbatch_size = 16\n")
    monkeypatch.setenv("SLITHER_DISPATCH__BATCH_SIZE", "128")
    monkeypatch.setenv("SLITHER_POOLS__GPU__SIZE", "2")
    from_file = sa.load_settings(tmp_path / "slither.toml")
    assert (from_file.dispatch.batch_size, from_file.dispatch.max_in_flight) == (128, 2)
    assert from_file.pools == (sa.PoolSettings(name="gpu", size=2),)
    monkeypatch.delenv("SLITHER_POOLS__GPU__SIZE")
    assert sa.load_settings(tmp_path / "pyproject.toml").dispatch.batch_size == 128


@pytest.mark.parametrize(
    "source",
    [
        None,
        {"dispatch": {"batch_size": 16}},
        sa.Settings(dispatch=sa.DispatchSettings(batch_size=16)),
    ],
    ids=["none", "dict", "settings"],
)
def test_the_environment_wins_over_every_source(
    source: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLITHER_DISPATCH__BATCH_SIZE", "128")
    assert sa.load_settings(source).dispatch.batch_size == 128


def test_a_bad_source_is_reported_before_the_environment_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLITHER_DISPATCH__BATCH_SIZE", "abc")
    with pytest.raises(sa.ConfigError, match="extra fields found"):
        sa.load_settings({"dispatch": {"batchsize": 1}})


async def test_open_runtime_honours_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLITHER_DISPATCH__BATCH_SIZE", "7")
    async with sa.open_runtime({"dispatch": {"max_in_flight": 2}}) as runtime:
        assert (runtime.settings.dispatch.batch_size, runtime.settings.dispatch.max_in_flight) == (
            7,
            2,
        )
        assert settings_in_use().dispatch.batch_size == 7


async def test_open_runtime_refuses_a_bad_variable_before_it_starts_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLITHER_DISPATCH__BATCH_SIZE", "0")
    with pytest.raises(sa.ConfigError, match="SLITHER_DISPATCH__BATCH_SIZE='0'"):
        async with sa.open_runtime():
            raise AssertionError("the block must not run")


def test_outside_a_runtime_the_defaults_hold_whatever_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLITHER_DISPATCH__BATCH_SIZE", "7")
    assert settings_in_use() == sa.Settings()


def test_run_honours_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLITHER_DISPATCH__ORDERING", "as_completed")

    async def main(runtime: sa.Runtime) -> sa.Ordering:
        return runtime.settings.dispatch.ordering

    assert sa.run(main, log_format=None) is sa.Ordering.AS_COMPLETED


SERVICE = textwrap.dedent(
    """
    import slither_actors as sa


    async def empty():
        return
        yield


    async def sink(output, item):
        pass


    class Nothing(sa.Pipe):
        stages = [sa.LocalStage("same", lambda item, ctx: item.payload)]


    async def main(runtime):
        print("batch_size", runtime.settings.dispatch.batch_size, flush=True)
        return await sa.start_pipe(Nothing, empty(), sink)
    """
)


def run_command(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "service.py").write_text(SERVICE)
    return subprocess.run(
        [sys.executable, "-m", "slither_actors", "run", "service:main"],
        cwd=tmp_path,
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_run_command_honours_a_variable(tmp_path: Path) -> None:
    result = run_command(tmp_path, SLITHER_DISPATCH__BATCH_SIZE="5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "batch_size 5"


def test_the_run_command_refuses_a_bad_variable_naming_it(tmp_path: Path) -> None:
    result = run_command(tmp_path, SLITHER_DISPATCH__BATCH_SIZE="five")
    assert result.returncode != 0
    assert "SLITHER_DISPATCH__BATCH_SIZE='five': expected int" in result.stderr
    assert "batch_size" not in result.stdout
