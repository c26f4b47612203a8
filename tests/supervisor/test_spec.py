"""Spec validation and the msgpack wire form of specs (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antsup import codec
from antsup.supervisor import ChildSpec, SupervisorSpec
from antsup.supervisor.spec import child_spec_from_wire, spec_to_wire


def test_defaults_follow_otp_and_infer_the_child_type() -> None:
    worker = ChildSpec("w", "mod:fn")
    nested = ChildSpec("s", SupervisorSpec([worker]))
    assert (worker.type, worker.restart, worker.shutdown) == ("worker", "permanent", 5.0)
    assert (nested.type, nested.shutdown) == ("supervisor", 60.0)
    assert SupervisorSpec([worker]).max_restarts == 3
    assert ChildSpec("k", "mod:fn", shutdown="brutal_kill").grace is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: ChildSpec("", "mod:fn"),
        lambda: ChildSpec("w", "no_colon"),
        lambda: ChildSpec("w", "mod:fn", restart="sometimes"),  # type: ignore[arg-type]
        lambda: ChildSpec("w", "mod:fn", shutdown=-1),
        lambda: ChildSpec("w", SupervisorSpec([]), type="worker"),
        lambda: SupervisorSpec([ChildSpec("a", "m:f"), ChildSpec("a", "m:f")]),
        lambda: SupervisorSpec([], strategy="all_for_none"),  # type: ignore[arg-type]
        lambda: SupervisorSpec([], strategy="simple_one_for_one"),
        lambda: SupervisorSpec([ChildSpec("a", "m:f")], pool_size=2),
    ],
)
def test_invalid_specs_are_rejected_at_construction(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


def test_a_local_function_cannot_cross_the_control_pipe() -> None:
    def local(ctx: object) -> None: ...

    with pytest.raises(TypeError):
        spec_to_wire(ChildSpec("w", local))


ids = st.text(min_size=1, max_size=10)
plain = st.one_of(st.none(), st.booleans(), st.integers(-(2**31), 2**31), st.text(max_size=10))


@given(
    ids,
    st.lists(plain, max_size=4),
    st.dictionaries(st.text(max_size=5), plain, max_size=3),
    st.sampled_from(["permanent", "transient", "temporary"]),
    st.one_of(st.just("brutal_kill"), st.floats(0, 100)),
)
def test_child_specs_survive_the_wire(
    child_id: str, args: list[object], kwargs: dict[str, object], restart: str, shutdown: object
) -> None:
    nested = SupervisorSpec([ChildSpec("leaf", "m:f")], strategy="rest_for_one")
    for start in ("pkg.mod:fn", nested):
        spec = ChildSpec(
            child_id,
            start,  # type: ignore[arg-type]
            args=tuple(args),
            kwargs=kwargs,
            restart=restart,  # type: ignore[arg-type]
            shutdown=shutdown,  # type: ignore[arg-type]
        )
        assert child_spec_from_wire(codec.unpack(codec.pack(spec_to_wire(spec)))) == spec
