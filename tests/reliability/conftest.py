"""Reliability tests reuse the job-system fixtures: small trees in tmp_path, always stopped."""

from __future__ import annotations

from jobs.conftest import log, start_tree

__all__ = ["log", "start_tree"]
