"""The seed's workers: create a lead, then mail it a promotion (Ant's AntSandbox, in Python)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import antsup


class InvalidEmail(Exception):
    pass


async def create_lead(email: str) -> dict[str, str] | antsup.Fail:
    """Emulates lead creation: smith@yahoo addresses fail validation, the rest take 100 ms."""
    if "smith" in email and "yahoo" in email:
        return antsup.Fail("Invalid email")  # Ant's {:error, "Invalid email"}
    await asyncio.sleep(0.1)
    return {"email": email}


async def send_promotion(email: str) -> None:
    """Emulates sending the e-mail: raises one time in ten, otherwise takes 100 ms."""
    if random.randint(1, 10) == 1:
        raise RuntimeError(f"Failed to send email to {email}")
    await asyncio.sleep(0.1)


class SendPromotionWorker(antsup.Worker):
    max_attempts = 3

    async def perform(self, job: antsup.Job) -> Any:
        email = job.args["email"]
        lead = await create_lead(email)
        if isinstance(lead, antsup.Fail):
            return lead
        await send_promotion(email)
        return "sent"
