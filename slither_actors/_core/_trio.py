"""The one check that a public entry point runs under Trio, not asyncio or no loop at all."""

from __future__ import annotations

import sniffio

from slither_actors.errors import NotInTrio

__all__ = ["require_trio"]


def require_trio(call: str) -> None:
    """Raise `NotInTrio` naming ``call`` unless this runs inside a Trio run.

    Called where a run begins (``dispatch``, ``open_pool``, ``open_runtime``, ...): inside
    asyncio, trio's own functions fail with an ``AttributeError`` about its run context,
    which says nothing of what to do. Costs about a microsecond, once per run.
    """
    try:
        library: str | None = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        library = None
    if library != "trio":
        raise NotInTrio(call, library)
