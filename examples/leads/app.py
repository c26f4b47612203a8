"""For `antsup run examples.leads.app`: the workers plus the settings the tree starts with.

Then, from another terminal: `python -m examples.leads.enqueue` pushes the leads into it, and
`antsup top` / `antsup jobs list --status failed` watch it.
"""

from examples.leads.workers import SendPromotionWorker

# Each job spends ~200 ms waiting (asyncio.sleep), so each worker process runs 500 at once.
ANTSUP = {"threads": 500, "queues": {"default": 1000}, "prefetch": 100}

__all__ = ["ANTSUP", "SendPromotionWorker"]
