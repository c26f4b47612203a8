"""The chaos suite's application: a process of its own that starts a tree and waits.

    python -m chaos.app DATA_DIR READY_FILE WORKERS

Running the tree under this separate application is what lets the test SIGKILL the whole tree
(application included) and start it again on the same data directory without dying itself.
Once the tree is up, the root supervisor's pid is written to READY_FILE (atomically); the tree
is stopped cleanly when stdin reaches end of file (the test closes it).
"""

from __future__ import annotations

import os
import sys

import antsup


def main(data_dir: str, ready_file: str, workers: int) -> int:
    tree = antsup.start(
        workers=workers,
        data_dir=data_dir,
        modules=["chaos.chaos_workers"],
        shutdown_grace=5.0,
    )
    try:
        partial = ready_file + ".part"
        with open(partial, "w") as out:
            out.write(f"{tree.pid}\n")
        os.rename(partial, ready_file)
        sys.stdin.buffer.read()  # returns at end of file: the test wants a clean stop
    finally:
        code = tree.stop()
    print(f"chaos app: tree stopped with exit code {code}", flush=True)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
