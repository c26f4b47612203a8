"""The seed's LeadReportGenerator: a file of random e-mail addresses, one per line."""

from __future__ import annotations

import random
from pathlib import Path

FIRST_NAMES = ["john", "jane", "alex", "michael", "david", "lisa"]
LAST_NAMES = ["smith", "williams", "brown", "jones", "garcia"]
DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "example.com"]


def generate_leads(path: Path, count: int = 400_000) -> None:
    with path.open("w") as out:
        for n in range(1, count + 1):
            first, last = random.choice(FIRST_NAMES), random.choice(LAST_NAMES)
            out.write(f"{first}.{last}{n}@{random.choice(DOMAINS)}\n")
