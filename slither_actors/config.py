"""Settings: attrs classes with the seed's defaults, structured strictly with cattrs.

Settings come from a dict, a TOML file or the ``[tool.slither_actors]`` table of a
``pyproject.toml``. Structuring is strict: an unknown key, a value of the wrong type (no
silent ``"5"`` → ``5``) or a value out of range is a `ConfigError` that names the key::

    invalid settings in pyproject.toml [tool.slither_actors]:
      - extra fields found (batchsize) @ settings.dispatch
"""

from __future__ import annotations

import enum
import ipaddress
import os
import sys
import tomllib
import typing
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.v import format_exception

from slither_actors._checks import (
    check_count,
    check_instance,
    check_number,
    check_seconds,
    check_text,
    validator,
)
from slither_actors.errors import ConfigError

__all__ = [
    "Affinity",
    "BridgeSettings",
    "DispatchSettings",
    "MetricsSettings",
    "OnError",
    "Ordering",
    "PoolSettings",
    "Settings",
    "StatusSettings",
    "ViewScope",
    "active_settings",
    "settings_in_use",
]


class Ordering(enum.Enum):
    """In which order dispatch returns results."""

    PRESERVE = "preserve"
    AS_COMPLETED = "as_completed"


class OnError(enum.Enum):
    """The default error policy of dispatch and pipe stages."""

    HALT = "halt"
    SKIP = "skip"


class ViewScope(enum.Enum):
    """Who may call a store view: workers of one session, or any worker."""

    SESSION = "session"
    GLOBAL = "global"


_count = validator(check_count)
_seconds = validator(check_seconds)
_finite_seconds = validator(check_seconds, infinite=False)


@attrs.frozen
class DispatchSettings:
    """Defaults for `dispatch` calls and worker stages that do not set their own.

    Enum fields accept the enum or its value as a string.
    """

    batch_size: int = attrs.field(default=64, validator=_count)
    max_in_flight: int = attrs.field(default=8, validator=_count)
    ordering: Ordering = attrs.field(default=Ordering.PRESERVE, converter=Ordering)
    on_error: OnError = attrs.field(default=OnError.HALT, converter=OnError)


@attrs.frozen
class BridgeSettings:
    """Defaults for store views called back from workers."""

    default_scope: ViewScope = attrs.field(default=ViewScope.SESSION, converter=ViewScope)


class Affinity(enum.Enum):
    """How a pool keeps a session's calls on one worker."""

    HINT = "hint"  # prefer the session's worker; use another if it is busy or gone
    STRICT = "strict"  # only the session's worker; SessionLost once it has gone


def _optional(check: Callable[[Any, attrs.Attribute[Any], Any], None]) -> Any:
    def optional_check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(instance, attribute, value)

    return optional_check


def _environment(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{attribute.name} must be a dict of str to str, not {value!r:.60}")
    for key, item in value.items():
        if type(key) is not str or not key or "=" in key or "\0" in key:
            raise ValueError(f"{attribute.name} has a bad variable name {key!r}")
        if type(item) is not str or "\0" in item:
            raise ValueError(f"{attribute.name}[{key!r}] must be a str, not {item!r:.60}")


def _module_names(value: Any) -> tuple[str, ...]:
    # A str is iterable, but preload="numpy" means one module, not five of one letter.
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"preload must be a list of module names, not {value!r:.60}")
    for index, name in enumerate(value):
        check_text(f"preload[{index}]", name)
    return tuple(value)


@attrs.frozen
class PoolSettings:
    """One pool of worker processes. Every field has a default; ``size`` None means one
    worker per CPU.

    Timeouts and ages are in seconds. ``call_timeout`` limits how long a call may run once
    its worker has started it (past it the worker is replaced); ``queue_timeout`` how long
    a call may wait to start (None: as long as it takes; the queue is bounded anyway).
    ``calls_per_worker`` is how many calls are written to a worker ahead of its results (it
    still runs them one at a time, so a call may wait behind a slow one while another
    worker is free; 1 avoids that at some cost in throughput); ``queue_limit`` is how many
    calls may wait for a worker before `PoolSaturated`. The recycle rules
    (``max_calls``, ``max_age``, ``max_rss_mb``) replace a worker once it has finished its
    calls in flight. ``allow_pickle`` lets values that nothing else carries travel pickled,
    both ways; it is off because unpickling what a worker sends runs code in the parent.
    """

    name: str = attrs.field(default="default", validator=validator(check_text))
    size: int | None = attrs.field(default=None, validator=_optional(_count))
    python: str = attrs.field(default=sys.executable, validator=validator(check_text))
    env: dict[str, str] = attrs.field(factory=dict, validator=_environment)
    cwd: str | None = attrs.field(default=None, validator=validator(check_text, optional=True))
    preload: tuple[str, ...] = attrs.field(default=(), converter=_module_names)
    startup_timeout: float = attrs.field(default=10.0, validator=_seconds)
    call_timeout: float = attrs.field(default=60.0, validator=_seconds)
    queue_timeout: float | None = attrs.field(default=None, validator=_optional(_seconds))
    queue_limit: int = attrs.field(default=1000, validator=_count)
    calls_per_worker: int = attrs.field(default=2, validator=_count)
    max_calls: int | None = attrs.field(default=None, validator=_optional(_count))
    max_age: float | None = attrs.field(default=None, validator=_optional(_seconds))
    max_rss_mb: float | None = attrs.field(
        default=None, validator=_optional(validator(check_number, infinite=True))
    )
    # Finite: a worker must always be watched and always be stoppable.
    heartbeat_interval: float = attrs.field(default=5.0, validator=_finite_seconds)
    heartbeat_timeout: float = attrs.field(default=5.0, validator=_finite_seconds)
    affinity: Affinity = attrs.field(default=Affinity.HINT, converter=Affinity)
    max_sessions: int = attrs.field(default=10_000, validator=_count)
    max_frame: int = attrs.field(default=64 * 2**20, validator=_count)
    # Off: unpickling runs code, and a worker's bytes must never run code in the parent.
    allow_pickle: bool = attrs.field(default=False, validator=validator(check_instance, bool))
    stop_grace: float = attrs.field(default=2.0, validator=_finite_seconds)
    kill_grace: float = attrs.field(default=1.0, validator=_finite_seconds)
    max_restarts: int = attrs.field(default=10, validator=validator(check_count, minimum=0))
    max_seconds: float = attrs.field(default=10.0, validator=_seconds)

    @property
    def worker_count(self) -> int:
        """``size``, or the number of CPUs when it is None."""
        return self.size if self.size is not None else (os.cpu_count() or 1)


@attrs.frozen
class MetricsSettings:
    """Which metrics bridges the runtime attaches while it runs (each needs its extra)."""

    prometheus: bool = attrs.field(default=False, validator=validator(check_instance, bool))
    otel: bool = attrs.field(default=False, validator=validator(check_instance, bool))


def _status_address(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        check_text(attribute.name, value)
        parse_address(value)


def parse_address(address: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:9100"`` for IPv6) as a host and a port from 0 to 65535.

    Raises `ValueError` naming the address for any other shape.
    """
    host, colon, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(
            f"expected an address as host:port, such as 127.0.0.1:9100, not {address!r}"
        )
    return host, int(port)


@attrs.frozen
class StatusSettings:
    """Where the runtime serves its read-only status page (None: nowhere).

    ``address`` is ``host:port``; a host other than a loopback one (127.0.0.1, ::1,
    localhost) also needs ``public`` set, so that the page is never exposed by a slip.
    """

    address: str | None = attrs.field(default=None, validator=_status_address)
    public: bool = attrs.field(default=False, validator=validator(check_instance, bool))

    def __attrs_post_init__(self) -> None:
        if self.address is not None and not self.public and not is_loopback(self.address):
            raise ValueError(
                f"status address {self.address!r} is reachable from other machines; "
                f"set public = true to serve the status page there, or use 127.0.0.1"
            )


def is_loopback(address: str) -> bool:
    """True if ``address`` (``host:port``) names this machine only."""
    host, _ = parse_address(address)
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _unique_pool_names(_: Any, attribute: attrs.Attribute[Any], pools: Any) -> None:
    names = [pool.name for pool in pools]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"two pools are named {name!r}; pool names must be unique")


def _each_a(kind: type) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """A validator for a list of ``kind`` (a str is not a list of its letters)."""

    def check(_: Any, attribute: attrs.Attribute[Any], values: Any) -> None:
        if not isinstance(values, list | tuple):
            raise ValueError(
                f"{attribute.name} must be a list of {kind.__name__}, not {values!r:.60}"
            )
        for index, value in enumerate(values):
            check_instance(f"{attribute.name}[{index}]", value, kind)

    return check


@attrs.frozen
class Settings:
    """Everything a runtime is configured with. Every field has the seed's default.

    ``stores`` lists store classes as ``"package.module:ClassName"`` strings for the
    runtime to start; ``pools`` the worker pools it starts (a pool named ``default``, one
    worker per CPU, is started on first use when none is configured). Built in code, a
    field of the wrong kind (``stores="a:B"``, ``dispatch={...}``) raises `ValueError`.
    """

    stores: tuple[str, ...] = attrs.field(default=(), validator=_each_a(str))
    dispatch: DispatchSettings = attrs.field(
        default=DispatchSettings(), validator=validator(check_instance, DispatchSettings)
    )
    bridge: BridgeSettings = attrs.field(
        default=BridgeSettings(), validator=validator(check_instance, BridgeSettings)
    )
    pools: tuple[PoolSettings, ...] = attrs.field(
        default=(), validator=[_each_a(PoolSettings), _unique_pool_names]
    )
    metrics: MetricsSettings = attrs.field(
        default=MetricsSettings(), validator=validator(check_instance, MetricsSettings)
    )
    status: StatusSettings = attrs.field(
        default=StatusSettings(), validator=validator(check_instance, StatusSettings)
    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "settings dict") -> Settings:
        """Structure settings from a mapping; raises `ConfigError` naming each bad key."""
        if not isinstance(data, Mapping):
            raise ConfigError(source, [f"expected a table of settings, got {type(data).__name__}"])
        try:
            return _converter.structure(dict(data), cls)
        except Exception as exc:
            problems = cattrs.transform_error(
                exc, path="settings", format_exception=_describe_problem
            )
            raise ConfigError(source, problems) from None

    @classmethod
    def from_toml(cls, path: str | Path) -> Settings:
        """Read settings from a TOML file whose top level is the settings table."""
        path = Path(path)
        return cls.from_dict(_read_toml(path), source=str(path))

    @classmethod
    def from_pyproject(cls, path: str | Path = "pyproject.toml") -> Settings:
        """Read the ``[tool.slither_actors]`` table of a pyproject file (defaults if absent)."""
        path = Path(path)
        table = _read_toml(path).get("tool", {}).get("slither_actors", {})
        return cls.from_dict(table, source=f"{path} [tool.slither_actors]")


# Set by the runtime for every task inside it: the settings that runtime was opened with.
active_settings: ContextVar[Settings | None] = ContextVar("slither_actors_settings", default=None)


def settings_in_use() -> Settings:
    """The settings of the runtime this task runs in, or the defaults outside one."""
    settings = active_settings.get()
    return settings if settings is not None else _DEFAULT_SETTINGS


_DEFAULT_SETTINGS = Settings()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from exc


def _describe_problem(exc: BaseException, expected: type | None) -> str:
    if isinstance(exc, _StrictTypeError | ValueError):
        return str(exc)
    if expected is not None and attrs.has(expected):
        return f"expected a table of {expected.__name__} fields"
    return format_exception(exc, expected)


class _StrictTypeError(TypeError):
    pass


def _scalar_hook(kind: type, accepted: tuple[type, ...]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        # bool is an int in Python, but `batch_size = true` is a mistake, not a 1.
        if not isinstance(value, accepted) or (isinstance(value, bool) and kind is not bool):
            raise _StrictTypeError(
                f"expected {kind.__name__}, got {type(value).__name__} {value!r}"
            )
        return kind(value)

    return structure


def _is_homogeneous_tuple(kind: Any) -> bool:
    return typing.get_origin(kind) is tuple and typing.get_args(kind)[1:] == (Ellipsis,)


def _tuple_hook(kind: Any) -> Callable[[Any, Any], Any]:
    element = typing.get_args(kind)[0]

    def structure(value: Any, _: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise _StrictTypeError(f"expected a list, got {type(value).__name__} {value!r}")
        parts, errors = [], []
        for index, part in enumerate(value):
            try:
                parts.append(_converter.structure(part, element))
            except Exception as exc:
                # The note is how cattrs puts "[index]" into the key path of the message.
                note = IterableValidationNote(f"Structuring {kind} @ index {index}", index, element)
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {kind!r}", errors, kind)
        return tuple(parts)

    return structure


def _enum_hook(kind: Any) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(repr(member.value) for member in kind)
            raise ValueError(f"expected one of {allowed}, got {value!r}") from None

    return structure


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(str, _scalar_hook(str, (str,)))
_converter.register_structure_hook(int, _scalar_hook(int, (int,)))
_converter.register_structure_hook(float, _scalar_hook(float, (int, float)))
_converter.register_structure_hook(bool, _scalar_hook(bool, (bool,)))
_converter.register_structure_hook_factory(_is_homogeneous_tuple, _tuple_hook)
_converter.register_structure_hook_factory(
    lambda kind: isinstance(kind, type) and issubclass(kind, enum.Enum), _enum_hook
)
