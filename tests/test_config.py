"""Settings: the seed's defaults, and strict structuring whose errors name the key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import slither_actors as sa


def test_defaults_are_the_seeds() -> None:
    settings = sa.Settings()
    assert settings.stores == ()
    assert (settings.dispatch.batch_size, settings.dispatch.max_in_flight) == (64, 8)
    assert settings.dispatch.ordering is sa.Ordering.PRESERVE
    assert settings.dispatch.on_error is sa.OnError.HALT
    assert settings.bridge.default_scope is sa.ViewScope.SESSION


def test_settings_are_structured_from_a_dict() -> None:
    settings = sa.Settings.from_dict(
        {
            "stores": ["myapp.stores:FeatureStore"],
            "dispatch": {"batch_size": 32, "ordering": "as_completed", "on_error": "skip"},
            "bridge": {"default_scope": "global"},
        }
    )
    assert settings.stores == ("myapp.stores:FeatureStore",)
    assert settings.dispatch == sa.DispatchSettings(
        batch_size=32, ordering=sa.Ordering.AS_COMPLETED, on_error=sa.OnError.SKIP
    )
    assert settings.bridge.default_scope is sa.ViewScope.GLOBAL


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"dispatch": {"batchsize": 3}}, "extra fields found (batchsize) @ settings.dispatch"),
        ({"nope": 1}, "extra fields found (nope) @ settings"),
        (
            {"dispatch": {"batch_size": "5"}},
            "expected int, got str '5' @ settings.dispatch.batch_size",
        ),
        (
            {"dispatch": {"max_in_flight": True}},
            "expected int, got bool True @ settings.dispatch.max_in_flight",
        ),
        (
            {"dispatch": {"batch_size": 0}},
            "batch_size must be an int, 1 or more, not 0 @ settings.dispatch",
        ),
        ({"dispatch": 5}, "expected a table of DispatchSettings fields @ settings.dispatch"),
        (
            {"dispatch": {"ordering": "random"}},
            "expected one of 'preserve', 'as_completed', got 'random' @ settings.dispatch.ordering",
        ),
        ({"stores": "myapp:Store"}, "expected a list, got str 'myapp:Store' @ settings.stores"),
        ({"stores": ["a:B", 3]}, "expected str, got int 3 @ settings.stores[1]"),
        (
            {"bridge": {"default_scope": "galaxy"}},
            "expected one of 'session', 'global', got 'galaxy' @ settings.bridge.default_scope",
        ),
    ],
)
def test_a_wrong_key_or_value_is_an_error_naming_the_key(data: dict, problem: str) -> None:
    with pytest.raises(sa.ConfigError) as caught:
        sa.Settings.from_dict(data, source="test")
    assert caught.value.problems == [problem]
    assert str(caught.value).startswith("invalid settings in test:")


def test_settings_built_in_code_are_checked_too() -> None:
    assert sa.DispatchSettings(ordering="as_completed").ordering is sa.Ordering.AS_COMPLETED
    with pytest.raises(ValueError, match="batch_size must be an int, not str '5'"):
        sa.DispatchSettings(batch_size="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'later' is not a valid OnError"):
        sa.DispatchSettings(on_error="later")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"env": {"A": 1}}, r"env\['A'\] must be a str, not 1"),
        ({"env": {"": "x"}}, "env has a bad variable name ''"),
        ({"env": {"A=B": "x"}}, "env has a bad variable name 'A=B'"),
        ({"env": [("A", "1")]}, "env must be a dict of str to str"),
        ({"preload": "numpy"}, "preload must be a list of module names, not 'numpy'"),
        ({"preload": ["numpy", 3]}, r"preload\[1\] must be a str, not int 3"),
        ({"name": ""}, "name must not be empty"),
        ({"python": None}, "python must be a str, not NoneType"),
        ({"cwd": 5}, "cwd must be a str or None, not int 5"),
        ({"call_timeout": math.nan}, "call_timeout must be a number of seconds above 0, not nan"),
        ({"queue_timeout": 0}, "queue_timeout must be a number of seconds above 0, not 0"),
        ({"stop_grace": math.inf}, "stop_grace must be a number of seconds above 0, finite"),
        ({"kill_grace": True}, "kill_grace must be a number of seconds, not bool True"),
        (
            {"heartbeat_timeout": math.inf},
            "heartbeat_timeout must be a number of seconds above 0, finite",
        ),
        ({"heartbeat_interval": -1}, "heartbeat_interval must be a number of seconds above 0"),
        ({"max_rss_mb": math.nan}, "max_rss_mb must be a number above 0"),
        ({"size": 2.0}, "size must be an int, not float 2.0"),
        ({"max_restarts": -1}, "max_restarts must be an int, 0 or more, not -1"),
    ],
)
def test_pool_settings_refuse_what_would_break_a_worker_later(
    options: dict[str, Any], message: str
) -> None:
    # Before, some of these were accepted and failed every worker start (env), imported one
    # module per letter (preload), or left a worker unwatched or unstoppable forever.
    with pytest.raises(ValueError, match=message):
        sa.PoolSettings(**options)


def test_pool_settings_take_a_queue_timeout_and_unbounded_call_timeouts() -> None:
    settings = sa.PoolSettings(call_timeout=math.inf, queue_timeout=2, preload=["a", "b.c"])
    assert settings.queue_timeout == 2 and settings.preload == ("a", "b.c")
    assert sa.PoolSettings(env={"A": "1"}).env == {"A": "1"}


def test_settings_are_read_from_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "slither.toml"
    path.write_text('stores = ["a:B"]\n[dispatch]\nmax_in_flight = 2\n')
    settings = sa.Settings.from_toml(path)
    assert settings.stores == ("a:B",) and settings.dispatch.max_in_flight == 2


def test_settings_are_read_from_the_tool_table_of_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n[tool.slither_actors.dispatch]\nbatch_size = 16\n')
    assert sa.Settings.from_pyproject(path).dispatch.batch_size == 16
    assert sa.load_settings(path).dispatch.batch_size == 16
    path.write_text('[project]\nname = "x"\n')
    assert sa.Settings.from_pyproject(path) == sa.Settings()


def test_errors_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.slither_actors]\nstorez = []\n")
    with pytest.raises(sa.ConfigError, match=r"pyproject.toml \[tool.slither_actors\]"):
        sa.Settings.from_pyproject(path)
    (tmp_path / "broken.toml").write_text("stores = [")
    with pytest.raises(sa.ConfigError, match="not valid TOML"):
        sa.Settings.from_toml(tmp_path / "broken.toml")
    with pytest.raises(sa.ConfigError, match="cannot read the file"):
        sa.Settings.from_toml(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # A str is iterable: "a:B" was read as the stores "a", ":" and "B".
        ({"stores": "tests.stores_for_tests:FeatureStore"}, "stores must be a list of str"),
        ({"stores": [5]}, r"stores\[0\] must be a str, not int 5"),
        # A dict passed here used to fail only later, in dispatch, with an AttributeError.
        ({"dispatch": {"batch_size": 3}}, "dispatch must be a DispatchSettings, not dict"),
        ({"bridge": "global"}, "bridge must be a BridgeSettings, not str 'global'"),
        ({"pools": [5]}, r"pools\[0\] must be a PoolSettings, not int 5"),
        ({"pools": sa.PoolSettings()}, "pools must be a list of PoolSettings"),
    ],
)
def test_settings_built_in_code_refuse_fields_of_the_wrong_kind(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sa.Settings(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("source", [5, b"settings.toml", ["a"]])
def test_settings_from_a_source_of_no_known_kind_are_a_config_error(source: object) -> None:
    with pytest.raises(sa.ConfigError, match="expected Settings, a mapping or the path"):
        sa.load_settings(source)  # type: ignore[arg-type]
