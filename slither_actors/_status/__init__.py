"""The status of a running service: a snapshot of its tree and queues, served over HTTP."""

from slither_actors._status._snapshot import StatusReader, take_snapshot

__all__ = ["StatusReader", "take_snapshot"]
