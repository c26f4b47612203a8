"""`antsup journal verify|repair`: check a data directory's journal, or set its damage aside."""

from __future__ import annotations

import argparse

from antsup.cli.connection import data_dir
from antsup.errors import DataDirLocked
from antsup.journal import DataDirLock, JournalReport, repair, verify


def journal_verify(args: argparse.Namespace) -> int:
    directory = data_dir(args.data_dir) / "journal"
    report = verify(directory)
    print(describe(report, str(directory)))
    return 0 if report.ok else 1


def journal_repair(args: argparse.Namespace) -> int:
    """Repair under the data directory's lock, so never under a running tree's feet."""
    path = data_dir(args.data_dir)
    try:
        with DataDirLock(path):
            report = repair(path / "journal")
    except DataDirLocked as exc:
        raise DataDirLocked(f"{exc}: stop that tree before repairing its journal") from None
    print(describe(report, str(path / "journal")))
    return 0 if report.ok else 1


def describe(report: JournalReport, directory: str) -> str:
    lines = [
        f"journal {directory}: {'OK' if report.ok else 'DAMAGED'}",
        f"  {report.records} good records, {report.bytes} bytes, {len(report.files)} files",
    ]
    if report.torn_tail_bytes:
        lines.append(
            f"  torn tail: {report.torn_tail_bytes} bytes of an unfinished last write "
            "(harmless: replay ignores them)"
        )
    if report.damage is not None:
        damage = report.damage
        lines.append(f"  damage: {damage.path} at offset {damage.offset}: {damage.reason}")
        lines.append("  run `antsup journal repair` (with the tree stopped) to set it aside")
    if report.moved_aside:
        lines.append(f"  moved aside: {report.moved_aside}")
    return "\n".join(lines)
