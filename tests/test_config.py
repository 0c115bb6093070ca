"""Settings: the seed's defaults, and strict structuring whose errors name the key."""

from __future__ import annotations

from pathlib import Path

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
    with pytest.raises(ValueError, match="batch_size must be an int, 1 or more, not '5'"):
        sa.DispatchSettings(batch_size="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'later' is not a valid OnError"):
        sa.DispatchSettings(on_error="later")


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
