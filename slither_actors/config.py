"""Settings: attrs classes with the seed's defaults, structured strictly with cattrs.

Settings come from a dict, a TOML file or the ``[tool.slither_actors]`` table of a
``pyproject.toml``, with ``SLITHER_...`` environment variables on top. Structuring is
strict: an unknown key, a value of the wrong type (no silent ``"5"`` → ``5``) or a value
out of range is a `ConfigError` that names the key, or the variable::

    invalid settings in pyproject.toml [tool.slither_actors]:
      - extra fields found (batchsize) @ settings.dispatch
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
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
    "Backend",
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


class Backend(enum.Enum):
    """What a pool's workers are: local worker processes, or Ray actors."""

    PROCESSES = "processes"
    RAY = "ray"


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


def _resources(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{attribute.name} must be a dict of str to number, not {value!r:.60}")
    for key, amount in value.items():
        check_text(f"{attribute.name} key", key)
        check_number(f"{attribute.name}[{key!r}]", amount, minimum=0, inclusive=True)


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
    # Ray actors instead of processes (extra `ray`); the cluster to join (None: start one).
    backend: Backend = attrs.field(default=Backend.PROCESSES, converter=Backend)
    ray_address: str | None = attrs.field(
        default=None, validator=validator(check_text, optional=True)
    )
    # What each Ray actor asks the cluster for: {"CPU": 1, "GPU": 0.5, "custom": 1}.
    ray_resources: dict[str, float] = attrs.field(factory=dict, validator=_resources)

    def __attrs_post_init__(self) -> None:
        if self.backend is not Backend.RAY:
            if self.ray_resources:
                raise ValueError(
                    f"pool {self.name!r}: ray_resources applies to backend 'ray' only, and "
                    f"its backend is {self.backend.value!r}"
                )
            return
        recycling = ("max_calls", "max_age", "max_rss_mb")
        ignored = [name for name in recycling if getattr(self, name) is not None]
        if self.python != sys.executable:
            ignored.append("python")
        if ignored:
            raise ValueError(
                f"pool {self.name!r} has backend 'ray', whose actors do not take "
                f"{', '.join(ignored)} (docs/scale-out.md)"
            )

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
                f"status address {self.address!r} is reachable from other machines: set "
                f"public = true (--status-public) to serve the status page there, or use "
                f"127.0.0.1"
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

    def with_env(self, environ: Mapping[str, str] | None = None) -> Settings:
        """These settings with the ``SLITHER_...`` variables of ``environ`` (by default
        ``os.environ``) on top, each parsed by the type of the field it names.

        ``SLITHER_DISPATCH__BATCH_SIZE=128`` sets ``dispatch.batch_size``,
        ``SLITHER_STORES=a:B,c:D`` the stores and ``SLITHER_POOLS__GPU__SIZE=2`` the size of
        the pool named ``gpu`` (docs/configuration.md has the whole scheme). Raises
        `ConfigError` naming each bad variable and its value: a value that does not parse
        or is out of range, and an unknown name under ``SLITHER_`` + a settings section.
        Other ``SLITHER_...`` variables are not settings and are left alone.
        """
        return _with_environment(self, os.environ if environ is None else environ)


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


# Settings from environment variables. A variable names a field by its path in upper case,
# levels joined by a double underscore, since field names have single ones
# (SLITHER_DISPATCH__BATCH_SIZE); a pool by its name (SLITHER_POOLS__<NAME>__<FIELD>), and
# an entry of a pool's env by its key (SLITHER_POOLS__<NAME>__ENV__<KEY>). The names that
# begin with SLITHER_ and a top-level field (SLITHER_DISPATCH, SLITHER_DISPATCH_...) are
# reserved for settings and must be right, so that a typo is an error. Other SLITHER_
# variables (SLITHER_CHAOS_MARKER, say) are not settings and are left alone.

_PREFIX = "SLITHER_"
_LEVEL = "__"
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|inf)")


def _variable_part(name: str) -> str:
    """How a field or pool name reads in a variable name: upper case, with an underscore for
    each character that a shell does not allow in one (``ingest-fast`` → ``INGEST_FAST``)."""
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


@attrs.frozen
class _Target:
    """What one variable sets: the field ``field`` of ``owner`` (the entry ``entry`` of it,
    for a dict), ``owner`` being the settings or the value of their field ``place``."""

    owner: Any
    place: str | None
    field: str
    entry: str | None = None

    @property
    def key(self) -> tuple[str | None, str | None]:
        """The same for every variable that sets a field of the same owner."""
        return self.place, self.owner.name if isinstance(self.owner, PoolSettings) else None


# What one variable assigns: its target, how to show it ("VARIABLE='value'") and its value.
_Assignment = tuple[_Target, str, Any]


def _with_environment(settings: Settings, environ: Mapping[str, str]) -> Settings:
    problems: list[str] = []
    assigned: dict[tuple[str | None, str | None], list[_Assignment]] = {}  # by owner
    for variable in sorted(filter(_is_setting_variable, environ)):
        text = environ[variable]
        try:
            target = _target_of(settings, variable)
            if target is None:
                raise ValueError(f"not a setting; {_known_names(variable)}")
        except ValueError as exc:
            problems.append(f"{variable}: {exc}")
            continue
        try:
            kind = _type_of(target)
            if target.entry is not None:  # an entry of a dict: parsed by its value type
                kind = typing.get_args(kind)[1]
            value = _parse(text, kind)
        except ValueError as exc:
            problems.append(f"{variable}={text!r}: {exc}")
            continue
        assigned.setdefault(target.key, []).append((target, f"{variable}={text!r}", value))
    changed = {key: _evolved(assignments, problems) for key, assignments in assigned.items()}
    if problems:
        raise ConfigError("the environment", sorted(problems))
    top: Settings = changed.pop((None, None), settings)
    pools = {pool.name: pool for pool in settings.pools}
    pools.update((pool.name, pool) for pool in changed.values() if isinstance(pool, PoolSettings))
    sections = {
        place: value for (place, _), value in changed.items() if place not in (None, "pools")
    }
    return attrs.evolve(top, pools=tuple(pools.values()), **sections)


def _is_setting_variable(variable: str) -> bool:
    """True for the names reserved for settings, in any case: ``SLITHER_`` and a top-level
    field, alone or followed by an underscore."""
    upper = variable.upper()
    rest = upper[len(_PREFIX) :]
    return upper.startswith(_PREFIX) and any(
        rest == part or rest.startswith(part + "_") for part in _TOP_FIELDS
    )


def _target_of(settings: Settings, variable: str) -> _Target | None:
    """The field ``variable`` sets, or None if it names none. Raises `ValueError` for a pool
    name that no pool has."""
    head, *levels = variable.split(_LEVEL)
    field = _TOP_FIELDS.get(head.removeprefix(_PREFIX))
    if field is None:
        return None
    value = getattr(settings, field.name)
    if field.name == "pools":
        return (
            _field_target(_pool_named(settings, levels[0]), "pools", levels[1:]) if levels else None
        )
    if attrs.has(type(value)):
        return _field_target(value, field.name, levels)
    return None if levels else _Target(settings, None, field.name)


def _field_target(owner: Any, place: str, levels: list[str]) -> _Target | None:
    fields = {_variable_part(field.name): field for field in attrs.fields(type(owner))}
    field = fields.get(levels[0]) if levels else None
    if field is None or (place == "pools" and field.name == "name"):
        return None  # a pool's name is how its variables find it, not one of them
    if typing.get_origin(typing.get_type_hints(type(owner))[field.name]) is dict:
        entry = _LEVEL.join(levels[1:])
        return _Target(owner, place, field.name, entry) if entry else None
    return _Target(owner, place, field.name) if len(levels) == 1 else None


def _pool_named(settings: Settings, part: str) -> PoolSettings:
    """The configured pool whose name reads ``part`` in a variable name, or a new pool named
    ``default`` (the one a runtime otherwise starts on first use) for ``DEFAULT``."""
    found = [pool for pool in settings.pools if _variable_part(pool.name) == part]
    if len(found) > 1:
        names = " and ".join(repr(pool.name) for pool in found)
        raise ValueError(f"the pools {names} both read {part} in a variable name; rename one")
    if found:
        return found[0]
    if part == "DEFAULT":
        return PoolSettings(name="default")
    known = [f"{pool.name!r} as {_variable_part(pool.name)}" for pool in settings.pools]
    raise ValueError(
        f"no pool's name reads {part} (configured: {', '.join(known) or 'none'}; the default "
        f"pool as DEFAULT); a variable sets a field of a configured pool or of the default "
        f"one, and adds no other pool"
    )


def _known_names(variable: str) -> str:
    """Which names there are, for a ``variable`` that names no setting."""
    field = _TOP_FIELDS.get(variable.split(_LEVEL)[0].removeprefix(_PREFIX))
    if field is None:  # SLITHER_DISPATCH_BATCH_SIZE, slither_dispatch__batch_size
        every = ", ".join(_pattern(field.name) for field in _TOP_FIELDS.values())
        return f"names are in upper case, levels joined by a double underscore: {every}"
    kind = _top_level_kind(field.name)
    if not attrs.has(kind):
        return f"{_pattern(field.name)} sets {field.name} whole"
    fields = ", ".join(_variable_part(one.name) for one in attrs.fields(kind) if one.name != "name")
    return f"{_pattern(field.name)} sets a field of {field.name}, FIELD one of {fields}"


def _pattern(name: str) -> str:
    """The variable names of the top-level field ``name``."""
    head = _PREFIX + _variable_part(name)
    if name == "pools":
        return f"{head}{_LEVEL}<NAME>{_LEVEL}<FIELD>"
    return f"{head}{_LEVEL}<FIELD>" if attrs.has(_top_level_kind(name)) else head


def _top_level_kind(name: str) -> Any:
    """The class of the top-level field ``name``, or of each of its values for ``pools``."""
    kind = typing.get_type_hints(Settings)[name]
    return typing.get_args(kind)[0] if name == "pools" else kind


def _type_of(target: _Target) -> Any:
    return typing.get_type_hints(type(target.owner))[target.field]


def _parse(text: str, kind: Any) -> Any:
    """``text`` as a value of the field type ``kind``, strictly; `ValueError` if it is not one."""
    options = typing.get_args(kind)
    if type(None) in options:  # an optional field: an empty value is None
        if text == "":
            return None
        (kind,) = (option for option in options if option is not type(None))
    if kind is bool and text in _BOOLEANS:
        return _BOOLEANS[text]
    if kind is int and _INT.fullmatch(text):
        return int(text)
    if kind is float and _FLOAT.fullmatch(text):
        return float(text)
    if kind is str:
        return text
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return _enum_hook(kind)(text, kind)
    if _is_homogeneous_tuple(kind):  # comma-separated; an empty value is an empty list
        parts = [part.strip() for part in text.split(",")] if text.strip() else []
        if "" in parts:
            raise ValueError("expected a comma-separated list with no empty entry")
        return tuple(_parse(part, typing.get_args(kind)[0]) for part in parts)
    wanted = "true, false, 1 or 0" if kind is bool else getattr(kind, "__name__", str(kind))
    raise ValueError(f"expected {wanted}")


def _evolved(assignments: list[_Assignment], problems: list[str]) -> Any:
    """The owner of ``assignments`` with its fields changed. If that is refused: a problem
    for each field that is refused alone, naming its variables, or one naming them all if
    only their combination is (an address that needs public set, say)."""
    owner = assignments[0][0].owner
    fields: dict[str, Any] = {}
    shown: dict[str, list[str]] = {}
    for target, text, value in assignments:
        if target.entry is not None:  # one entry of a dict field, over those set before it
            value = {**fields.get(target.field, getattr(owner, target.field)), target.entry: value}
        fields[target.field] = value
        shown.setdefault(target.field, []).append(text)
    try:
        return attrs.evolve(owner, **fields)
    except ValueError as exc:
        before = len(problems)
        for field, value in fields.items():
            try:
                attrs.evolve(owner, **{field: value})
            except ValueError as alone:
                problems.append(f"{', '.join(shown[field])}: {alone}")
        if len(problems) == before:
            every = ", ".join(text for texts in shown.values() for text in texts)
            problems.append(f"{every}: {exc}")
        return owner


_TOP_FIELDS = {_variable_part(field.name): field for field in attrs.fields(Settings)}
