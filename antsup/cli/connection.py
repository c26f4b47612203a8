"""Finding the running tree a command talks to: the data directory's `address` and `authkey`.

`--data-dir` wins, then `ANTSUP_DATA_DIR`, then ./antsup_data; `ANTSUP_ADDRESS` names the socket
directly (the authkey then comes from the data directory or `ANTSUP_AUTHKEY`).
"""

from __future__ import annotations

import os
from multiprocessing import AuthenticationError
from pathlib import Path

from antsup.client import Client
from antsup.config import read_authkey
from antsup.errors import NotRunning

DEFAULT_DATA_DIR = "antsup_data"


def data_dir(explicit: str | None) -> Path:
    """The data directory a command means."""
    chosen = explicit or os.environ.get("ANTSUP_DATA_DIR") or DEFAULT_DATA_DIR
    return Path(chosen).resolve()


def connect(explicit_data_dir: str | None) -> Client:
    """A client of the running tree, checked with a ping; NotRunning (one readable line) if none."""
    directory = data_dir(explicit_data_dir)
    address = None if explicit_data_dir else os.environ.get("ANTSUP_ADDRESS")
    if not address:
        try:
            address = (directory / "address").read_text().strip()
        except OSError:
            raise NotRunning(
                f"no antsup tree is running for {directory} (no address file there; "
                "start one with `antsup run MODULE`, or pass --data-dir)"
            ) from None
    try:
        authkey = read_authkey(directory)
    except OSError:
        raise NotRunning(
            f"cannot read the authkey of {directory} (or set ANTSUP_AUTHKEY)"
        ) from None
    client = Client(address, authkey)
    try:
        client.call("ping")
    except NotRunning:
        raise NotRunning(f"no antsup tree is running for {directory}") from None
    except (AuthenticationError, OSError, EOFError) as exc:
        raise NotRunning(f"cannot talk to the antsup tree at {address}: {exc}") from None
    return client
