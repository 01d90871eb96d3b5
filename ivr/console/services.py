"""The console's engine-side objects, built once by `ivr.app` and shared by every request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ivr.console.accounts import Accounts
from ivr.console.callback import CallbackService
from ivr.console.live import LiveHub
from ivr.console.throttle import LoginThrottle
from ivr.recordings.campaigns import RuntimeCampaigns


@dataclass
class ConsoleServices:
    accounts: Accounts
    campaigns: RuntimeCampaigns
    callbacks: CallbackService
    live: LiveHub
    throttle: LoginThrottle

    def __post_init__(self) -> None:
        self.callbacks.on_update = self.live.notify


def monotonic() -> float:
    return asyncio.get_running_loop().time()
