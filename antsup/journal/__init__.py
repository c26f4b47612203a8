"""The append-only msgpack journal: framed records in segment files, snapshots, replay.

The persistence process is the only writer (`Journal`); the queue manager replays with
`read_journal`. Payloads are opaque bytes (already-packed msgpack) to everything here except
`verify`/`repair`, which also check that each one decodes.
"""

from antsup.errors import DataDirLocked, JournalCorrupt, JournalWriteError
from antsup.journal.check import Damage, JournalReport, repair, verify
from antsup.journal.lock import DataDirLock
from antsup.journal.reader import read_journal
from antsup.journal.writer import FsyncMode, Journal

__all__ = [
    "Damage",
    "DataDirLock",
    "DataDirLocked",
    "FsyncMode",
    "Journal",
    "JournalCorrupt",
    "JournalReport",
    "JournalWriteError",
    "read_journal",
    "repair",
    "verify",
]
