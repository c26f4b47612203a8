"""RestartIntensity with an injected clock: OTP's MaxR restarts in MaxT seconds, exactly."""

from __future__ import annotations

import pytest

from antsup.supervisor import RestartIntensity


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_restart_after_max_restarts_inside_the_window_is_refused() -> None:
    clock = FakeClock()
    intensity = RestartIntensity(3, 5.0, clock=clock)
    assert [intensity.record() for _ in range(3)] == [True, True, True]
    assert intensity.record() is False


def test_restarts_older_than_the_window_are_forgotten() -> None:
    clock = FakeClock()
    intensity = RestartIntensity(2, 5.0, clock=clock)
    assert intensity.record() and intensity.record()
    clock.now += 5.0
    assert intensity.record() is True
    assert intensity.recent == 1


def test_sliding_window_counts_only_recent_restarts() -> None:
    clock = FakeClock()
    intensity = RestartIntensity(2, 10.0, clock=clock)
    assert intensity.record()  # t=100
    clock.now = 106.0
    assert intensity.record()  # t=106
    clock.now = 111.0  # the t=100 restart left the window
    assert intensity.record()
    clock.now = 112.0  # 106, 111, 112 are all inside 10 s
    assert intensity.record() is False


def test_zero_max_restarts_refuses_the_first_restart() -> None:
    assert RestartIntensity(0, 1.0, clock=FakeClock()).record() is False


@pytest.mark.parametrize(("max_restarts", "max_seconds"), [(-1, 5.0), (3, 0.0)])
def test_invalid_limits_are_rejected(max_restarts: int, max_seconds: float) -> None:
    with pytest.raises(ValueError):
        RestartIntensity(max_restarts, max_seconds)
