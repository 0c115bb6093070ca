"""Checks for the arguments of public calls, each naming the argument and the bad value.

A bad argument must fail in the caller, where it was passed, before it reaches a worker,
a deadline or a shared task that good calls depend on. Every layer may import this module;
it imports nothing from the rest of the package.

Each raises `ValueError`, for the wrong kind of value as for one out of range, as the
settings' validators do, so a caller has one error to catch. ``bool`` is refused wherever
a number is expected: ``timeout=True`` is a mistake, not one second.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, cast

__all__ = [
    "check_callable",
    "check_count",
    "check_instance",
    "check_number",
    "check_object",
    "check_seconds",
    "check_text",
    "validator",
]


def check_seconds(name: str, value: Any, *, zero: bool = False, infinite: bool = True) -> float:
    """``value`` as a duration in seconds: a real number above 0 (or 0 when ``zero``),
    never NaN, and ``math.inf`` only when ``infinite``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number of seconds, not {_show(value)}")
    number = cast(float, value)
    if (number > 0 or (zero and number == 0)) and (infinite or number != math.inf):
        return float(number)
    bound = "0 or more" if zero else "above 0"
    finite = "" if infinite else ", finite"
    raise ValueError(f"{name} must be a number of seconds {bound}{finite}, not {value!r}")


def check_count(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum`` (a bool is not an int here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, not {_show(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an int, {minimum} or more, not {value!r}")
    return int(value)


def check_text(name: str, value: Any, *, optional: bool = False) -> str | None:
    """``value`` as a non-empty str (or None when ``optional``)."""
    if type(value) is str and value:
        return value
    if value is None and optional:
        return None
    if not isinstance(value, str):
        wanted = "a str or None" if optional else "a str"
        raise ValueError(f"{name} must be {wanted}, not {_show(value)}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def check_number(
    name: str, value: Any, *, minimum: float = 0.0, inclusive: bool = False, infinite: bool = False
) -> float:
    """``value`` as a real number above ``minimum`` (or equal to it when ``inclusive``),
    never NaN, and ``math.inf`` only when ``infinite``: for sizes and factors that are not
    seconds (a batch weight, a backoff factor)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, not {_show(value)}")
    number = cast(float, value)  # a Real, compared as such (float() could overflow)
    if (number > minimum or (inclusive and number == minimum)) and (infinite or number != math.inf):
        return float(number)
    bound = f"{minimum:g} or more" if inclusive else f"above {minimum:g}"
    finite = "" if infinite else ", finite"
    raise ValueError(f"{name} must be a number {bound}{finite}, not {value!r}")


def check_callable(name: str, value: Any, *, optional: bool = False) -> Any:
    """``value`` as something to call (or None when ``optional``)."""
    if callable(value) or (value is None and optional):
        return value
    wanted = "a callable or None" if optional else "a callable"
    raise ValueError(f"{name} must be {wanted}, not {_show(value)}")


def check_instance(name: str, value: Any, kind: type, *, optional: bool = False) -> Any:
    """``value`` as an instance of ``kind`` (or None when ``optional``)."""
    if isinstance(value, kind) or (value is None and optional):
        return value
    article = "an" if kind.__name__[:1] in "AEIOU" else "a"
    wanted = f"{article} {kind.__name__}" + (" or None" if optional else "")
    raise ValueError(f"{name} must be {wanted}, not {_show(value)}")


def check_object(
    name: str,
    value: Any,
    wanted: str,
    *,
    methods: tuple[str, ...] = (),
    attributes: tuple[str, ...] = (),
) -> Any:
    """``value`` as an object (not a class) with the callable ``methods`` and the
    ``attributes`` a protocol asks for; else `ValueError` saying it must be ``wanted``."""
    if (
        not isinstance(value, type)
        and all(callable(getattr(value, method, None)) for method in methods)
        and all(hasattr(value, attribute) for attribute in attributes)
    ):
        return value
    shown = value.__name__ if isinstance(value, type) else type(value).__name__
    raise ValueError(f"{name} must be {wanted}, not {shown} {value!r:.60}")


def validator(check: Callable[..., Any], *args: Any, **options: Any) -> Any:
    """An attrs validator running ``check(field name, value, *args, **options)``::

    timeout: float = attrs.field(validator=validator(check_seconds, zero=True))
    """

    def run_check(_: Any, attribute: Any, value: Any) -> None:
        check(attribute.name, value, *args, **options)

    return run_check


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"
