"""The control calls a supervisor answers (OTP's which_children, terminate_child, ...).

A request is a msgpack map {"ref", "op", "path", "args"}; a non-empty path is forwarded to the
nested supervisor it names, so one pipe from the application reaches every level of the tree.
"""

from __future__ import annotations

import time
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from antsup import codec
from antsup.supervisor.running import ChildProcess, ChildStartFailed
from antsup.supervisor.spec import child_spec_from_wire

if TYPE_CHECKING:
    from antsup.supervisor.server import Slot, Supervisor

_FORWARD_TIMEOUT = 120.0


class CallError(Exception):
    """A refused call: `code` is machine-readable (not_found, running, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def handle(sup: Supervisor, request: dict[str, Any]) -> dict[str, Any]:
    """Answer (or forward) one request; never raises."""
    ref = request.get("ref")
    try:
        path = list(request.get("path") or [])
        if path:
            return forward(sup, path, request)
        value = _dispatch(sup, str(request.get("op")), request.get("args") or {})
        return {"ref": ref, "ok": True, "value": value}
    except CallError as exc:
        return {"ref": ref, "ok": False, "error": exc.code, "message": exc.message}
    except Exception as exc:  # a bad request must not kill the supervisor
        return {"ref": ref, "ok": False, "error": "bad_request", "message": repr(exc)}


def forward(sup: Supervisor, path: list[str], request: dict[str, Any]) -> dict[str, Any]:
    """Send the request one level down and relay the nested supervisor's reply."""
    slot = _running_supervisor(sup, path[0])
    proc = slot.proc
    assert proc is not None and proc.conn is not None and proc.pidfd is not None
    proc.conn.send_bytes(codec.pack({**request, "path": path[1:]}))
    deadline = time.monotonic() + _FORWARD_TIMEOUT
    while time.monotonic() < deadline:
        ready = wait([proc.conn, proc.pidfd], timeout=deadline - time.monotonic())
        if proc.conn in ready:
            reply = proc.read_message()
            if reply is None:
                break
            if "ref" in reply and reply.get("ref") == request.get("ref"):
                return reply
            sup.relay(reply)  # an event that crossed our request on the way up
        elif ready:
            break
    raise CallError("not_running", f"supervisor {path[0]!r} did not answer (it exited)")


def _running_supervisor(sup: Supervisor, child_id: str) -> Slot:
    slot = _find(sup, child_id)
    if slot.spec.type != "supervisor":
        raise CallError("not_supervisor", f"child {child_id!r} is not a supervisor")
    if slot.proc is None or slot.proc.conn is None:
        raise CallError("not_running", f"supervisor {child_id!r} is not running")
    return slot


def _find(sup: Supervisor, child_id: Any) -> Slot:
    slot = sup.find(str(child_id))
    if slot is None:
        raise CallError("not_found", f"no child {child_id!r}")
    return slot


def _dispatch(sup: Supervisor, op: str, args: dict[str, Any]) -> Any:
    dynamic = sup.spec.strategy == "simple_one_for_one"
    if op == "which_children":
        return [slot.info_dict() for slot in sup.slots]
    if op == "count_children":
        return {
            "specs": len(sup.slots),
            "active": sum(1 for s in sup.slots if s.proc is not None),
            "supervisors": sum(1 for s in sup.slots if s.spec.type == "supervisor"),
            "workers": sum(1 for s in sup.slots if s.spec.type == "worker"),
        }
    if op == "tree":
        return tree(sup, str(args.get("name", "root")))
    if op == "terminate_child":
        slot = _find(sup, args.get("id"))
        sup._stop_slot(slot)
        if dynamic or slot.spec.restart == "temporary":
            sup.slots.remove(slot)
        return None
    if op in ("restart_child", "delete_child") and dynamic:
        raise CallError("simple_one_for_one", f"{op} is not supported by simple_one_for_one")
    if op == "restart_child":
        slot = _find(sup, args.get("id"))
        if slot.proc is not None:
            raise CallError("running", f"child {slot.id!r} is running")
        _start_into(sup, slot)
        return slot.proc.pid if slot.proc else None
    if op == "delete_child":
        slot = _find(sup, args.get("id"))
        if slot.proc is not None:
            raise CallError("running", f"child {slot.id!r} is running")
        sup.slots.remove(slot)
        return None
    if op == "start_child":
        return _start_child(sup, args)
    raise CallError("bad_request", f"unknown operation {op!r}")


def _start_into(sup: Supervisor, slot: Slot) -> None:
    try:
        slot.proc = ChildProcess.start(slot.spec, sup.spec.start_method, sup._owned_fds())
    except ChildStartFailed as exc:
        raise CallError("start_failed", exc.reason) from None
    slot.status = "running"


def _start_child(sup: Supervisor, args: dict[str, Any]) -> str:
    from antsup.supervisor.server import Slot

    if sup.spec.strategy == "simple_one_for_one":
        spec = sup._dynamic_spec(sup.spec.children[0], tuple(args.get("args") or ()))
    else:
        spec = child_spec_from_wire(args["spec"])
        existing = sup.find(spec.id)
        if existing is not None:
            code = "already_started" if existing.proc else "already_present"
            raise CallError(code, f"child {spec.id!r} already exists")
    slot = Slot(spec)
    _start_into(sup, slot)
    sup.slots.append(slot)
    return spec.id


def tree(sup: Supervisor, name: str) -> dict[str, Any]:
    """This supervisor and everything under it, each node with its children."""
    node = sup.own_node(name)
    children = []
    for slot in sup.slots:
        child = {**slot.info_dict(), "children": []}
        if slot.spec.type == "supervisor" and slot.proc is not None and slot.proc.conn:
            reply = forward(sup, [slot.id], {"ref": -1, "op": "tree", "args": {"name": slot.id}})
            if reply.get("ok"):
                child["children"] = reply["value"]["children"]
                child["strategy"] = reply["value"].get("strategy")
        children.append(child)
    node["children"] = children
    return node
