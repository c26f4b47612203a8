"""The real-tree fixtures of the job-system tests, shared here (not duplicated)."""

from jobs.conftest import StartTree, log, start_tree

__all__ = ["StartTree", "log", "start_tree"]
