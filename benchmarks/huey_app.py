"""The Huey side of the comparison: SqliteHuey and the same no-op job.

The database path comes from ANTSUP_BENCH_HUEY_DB, so the consumer process (started with
`python -m huey.bin.huey_consumer benchmarks.huey_app.huey`) and the enqueuer share it.
"""

from __future__ import annotations

import os

from huey import SqliteHuey  # type: ignore[import-untyped]

huey = SqliteHuey("bench", filename=os.environ.get("ANTSUP_BENCH_HUEY_DB", "huey-bench.db"))


@huey.task()  # type: ignore[untyped-decorator]
def noop() -> bool:
    """Returns True (not None) so Huey stores a result: the benchmark counts results."""
    return True
