"""The actor core: actors with bounded mailboxes, OTP-style supervisors, a name registry.

It knows nothing of stores, workers, dispatch or pipes; everything else builds on it.
"""

from slither_actors._core._actor import Actor, run_actor
from slither_actors._core._childspec import ChildKind, ChildSpec, Restart, Stoppable, Strategy
from slither_actors._core._exit import ExitReason, Reason, is_abnormal
from slither_actors._core._intensity import Backoff, RestartIntensity
from slither_actors._core._nursery import open_own_nursery
from slither_actors._core._ref import DEFAULT_CALL_TIMEOUT, ActorRef, DeferredReply
from slither_actors._core._registry import Registry, current_registry, use_registry
from slither_actors._core._signal import Signal
from slither_actors._core._supervision import ChildCounts, ChildInfo, should_restart
from slither_actors._core._supervisor import DynamicSupervisor, Supervisor, SupervisorRef
from slither_actors._core._trio import require_trio

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "Actor",
    "ActorRef",
    "Backoff",
    "ChildCounts",
    "ChildInfo",
    "ChildKind",
    "ChildSpec",
    "DeferredReply",
    "DynamicSupervisor",
    "ExitReason",
    "Reason",
    "Registry",
    "Restart",
    "RestartIntensity",
    "Signal",
    "Stoppable",
    "Strategy",
    "Supervisor",
    "SupervisorRef",
    "current_registry",
    "is_abnormal",
    "open_own_nursery",
    "require_trio",
    "run_actor",
    "should_restart",
    "use_registry",
]
