"""An Erlang/OTP-style supervisor of OS processes: strategies, restart intensity, nested trees.

tree = start(SupervisorSpec([ChildSpec("w", "myapp.workers:run")]))
tree.which_children(); tree.stop()
"""

from antsup.supervisor.child import ChildContext
from antsup.supervisor.handle import SupervisorHandle, start
from antsup.supervisor.intensity import RestartIntensity
from antsup.supervisor.spec import (
    EXIT_ESCALATED,
    EXIT_OK,
    EXIT_START_FAILED,
    ChildInfo,
    ChildSpec,
    SupervisorSpec,
)

__all__ = [
    "EXIT_ESCALATED",
    "EXIT_OK",
    "EXIT_START_FAILED",
    "ChildContext",
    "ChildInfo",
    "ChildSpec",
    "RestartIntensity",
    "SupervisorHandle",
    "SupervisorSpec",
    "start",
]
