"""Functions the worker tests run inside real worker processes (imported there, not here)."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from slither_actors.worker import call_view, current_session_id, tool, worker_id

IMPORTS = 0
IMPORTS += 1  # counts how often this module was imported in this process
CALLS: list[Any] = []  # worker-local state: private to each process


def double(items: list[int]) -> list[int]:
    return [item * 2 for item in items]


def echo(items: list[Any]) -> list[Any]:
    return items


def whoami(items: list[Any]) -> list[dict[str, Any]]:
    """Where each item ran: this worker's id, pid and how often the module was imported."""
    CALLS.extend(items)
    return [
        {
            "worker": worker_id(),
            "pid": os.getpid(),
            "imports": IMPORTS,
            "calls": len(CALLS),
            "session": current_session_id(),
        }
        for _ in items
    ]


def fail(items: list[Any]) -> list[Any]:
    raise ValueError(f"cannot handle {items!r}")


def short(items: list[Any]) -> list[Any]:
    return items[:-1]


def not_a_list(items: list[Any]) -> tuple[Any, ...]:
    return tuple(items)


def unencodable(items: list[Any]) -> list[Any]:
    return [item if index != 1 else {1, 2} for index, item in enumerate(items)]


def huge(items: list[int]) -> list[bytes]:
    return [b"x" * item for item in items]


def chatty(items: list[Any]) -> list[Any]:
    print("printed by user code", items)
    sys.stdout.write("\x00\x00\x00\x10 not a frame\n")
    os.write(1, b"written straight to fd 1\n")
    print("to stderr", file=sys.stderr)
    return items


def exit_now(items: list[Any]) -> list[Any]:
    os._exit(3)


def sigkill_self(items: list[Any]) -> list[Any]:
    os.kill(os.getpid(), signal.SIGKILL)
    return items


def exit_slowly(items: list[Any]) -> list[Any]:
    time.sleep(0.3)
    os._exit(4)


def sleep(items: list[float]) -> list[float]:
    for seconds in items:
        time.sleep(seconds)
    return items


def garbage(items: list[Any]) -> list[Any]:
    from slither_actors import worker

    os.write(worker._connection._writer, b"\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1")  # type: ignore[union-attr]
    return items


def grow(items: list[int]) -> list[int]:
    global BALLAST
    BALLAST = bytearray(items[0] * 2**20)
    return items


BALLAST = bytearray()


def lookup(items: list[str]) -> list[Any]:
    return [call_view("lookup", key=item) for item in items]


def lookup_error(items: list[str]) -> list[Any]:
    from slither_actors.worker import ViewError

    try:
        call_view("missing", key=items[0])
    except ViewError as error:
        return [f"{error.type_name}: {error}" for _ in items]
    return items


@tool("shout")
def shout(items: list[str]) -> list[str]:
    return [item.upper() for item in items]


def ask(items: list[dict[str, Any]]) -> list[Any]:
    """Call the view each item names; a failure comes back as {"error": type, "message"}."""
    from slither_actors.worker import ViewError

    answers: list[Any] = []
    for item in items:
        try:
            answers.append(call_view(item["view"], **item.get("params", {})))
        except ViewError as error:
            answers.append({"error": error.type_name, "message": str(error)})
    return answers


def picky(items: list[Any]) -> list[Any]:
    """Doubles numbers; raises on "bad", exits the process on "die", hangs on "hang"."""
    if "die" in items:
        os._exit(5)
    if "hang" in items:
        time.sleep(60)
    if "bad" in items:
        raise ValueError("a bad item in the batch")
    return [item * 2 for item in items]


def pid_after(items: list[float]) -> list[int]:
    """Sleeps the given seconds, then says which process it ran in."""
    time.sleep(sum(items))
    return [os.getpid() for _ in items]


def plus_hundred(items: list[int]) -> list[int]:
    return [item + 100 for item in items]


def quit_worker(items: list[Any]) -> list[Any]:
    """Raises SystemExit, as sys.exit() in user code does."""
    sys.exit(items[0])


def interrupt(items: list[Any]) -> list[Any]:
    raise KeyboardInterrupt("raised by user code")


def getenv(items: list[str]) -> list[str | None]:
    """The worker's value of each environment variable named."""
    return [os.environ.get(name) for name in items]
