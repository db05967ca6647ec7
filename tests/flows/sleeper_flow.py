"""A flow that only waits, for commands whose server goes away while they run."""

from __future__ import annotations

import time

from prefect import flow


@flow(name="sleeper")
def sleeper(seconds: float) -> None:
    print("sleeping", flush=True)
    time.sleep(seconds)
