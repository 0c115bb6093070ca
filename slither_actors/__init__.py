"""slither_actors: a Trio parent owns concurrency, state and coordination; Python worker
processes do the compute.

This module is the whole public surface: import from ``slither_actors``, never from a
private module. ``slither_actors.telemetry`` and ``slither_actors.errors`` are public too.
"""

import logging

from slither_actors import errors, telemetry
from slither_actors.config import (
    BridgeSettings,
    DispatchSettings,
    OnError,
    Ordering,
    Settings,
    ViewScope,
)
from slither_actors.context import Context
from slither_actors.core import (
    DEFAULT_CALL_TIMEOUT,
    Actor,
    ActorRef,
    Backoff,
    ChildCounts,
    ChildInfo,
    ChildKind,
    ChildSpec,
    DeferredReply,
    DynamicSupervisor,
    ExitReason,
    Reason,
    Registry,
    Restart,
    Stoppable,
    Strategy,
    Supervisor,
    SupervisorRef,
    current_registry,
    run_actor,
)
from slither_actors.errors import (
    ActorExited,
    CallTimeout,
    ChildStartFailed,
    ConfigError,
    DuplicateChild,
    HandlerAlreadyAttached,
    MailboxFull,
    MaxChildrenReached,
    NameNotFound,
    NameTaken,
    NoRuntime,
    SlitherError,
    SupervisorExhausted,
    UnknownChild,
)
from slither_actors.item import DEFAULT_ROUTE, Item
from slither_actors.runtime import Runtime, current_runtime, load_settings, open_runtime, run

__version__ = "0.1.0"

# A library logs; the application decides where logs go (crash reports included).
logging.getLogger("slither_actors").addHandler(logging.NullHandler())

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_ROUTE",
    "Actor",
    "ActorExited",
    "ActorRef",
    "Backoff",
    "BridgeSettings",
    "CallTimeout",
    "ChildCounts",
    "ChildInfo",
    "ChildKind",
    "ChildSpec",
    "ChildStartFailed",
    "ConfigError",
    "Context",
    "DeferredReply",
    "DispatchSettings",
    "DuplicateChild",
    "DynamicSupervisor",
    "ExitReason",
    "HandlerAlreadyAttached",
    "Item",
    "MailboxFull",
    "MaxChildrenReached",
    "NameNotFound",
    "NameTaken",
    "NoRuntime",
    "OnError",
    "Ordering",
    "Reason",
    "Registry",
    "Restart",
    "Runtime",
    "Settings",
    "SlitherError",
    "Stoppable",
    "Strategy",
    "Supervisor",
    "SupervisorExhausted",
    "SupervisorRef",
    "UnknownChild",
    "ViewScope",
    "current_registry",
    "current_runtime",
    "errors",
    "load_settings",
    "open_runtime",
    "run",
    "run_actor",
    "telemetry",
]
