"""How long a failed job waits before its next attempt, when its worker does not say."""

from __future__ import annotations

#: Seconds added to every retry, so even the first one is not immediate.
BASE_DELAY_SECONDS = 15


def default_backoff(attempt: int) -> float:
    """Seconds before retrying after failed attempt number `attempt` (1-based): 15 + attempt**4.

    This is Sidekiq's and Oban's polynomial curve: 16 s after the first failure, 31 s after
    the second, 96 s after the third, about 2.9 hours after the tenth. It grows fast enough to
    ride out an outage and needs no randomness, so the core stays deterministic.
    """
    return float(BASE_DELAY_SECONDS + max(attempt, 0) ** 4)
