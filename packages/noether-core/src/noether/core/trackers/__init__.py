"""Trackers (where metrics go) and the LogWriter that feeds them."""

from noether.core.trackers.base import TrackerBase
from noether.core.trackers.jsonl import JsonlTracker
from noether.core.trackers.log_writer import LogWriter
from noether.core.trackers.noop import NoopTracker
from noether.core.trackers.tensorboard import TensorboardTracker

__all__ = ["JsonlTracker", "LogWriter", "NoopTracker", "TensorboardTracker", "TrackerBase"]
