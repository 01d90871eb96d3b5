"""Everything the console's pages use, built once by `ivr.app` and shared by every request.

The pages see the line only through these objects (the queue, the tickets, the operators' and
closures' administration...), never through the engine, so a page test builds just these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.acd.callbacks import CallbackService
from ivr.acd.control import CallControl
from ivr.acd.missed import MissedCalls
from ivr.alerts.watch import AlertWatch
from ivr.api.deps import ClosureAdmin, OperatorAdmin, QueueView, TicketAccess
from ivr.clock import Clock
from ivr.console.accounts import Accounts
from ivr.console.live import LiveHub
from ivr.console.queries import TicketQueries
from ivr.console.throttle import LoginThrottle
from ivr.hours.closing import ClosureDesk
from ivr.hours.notices import NoticeDesk
from ivr.knowledge.repository import KnowledgeBase
from ivr.recordings.campaigns import RuntimeCampaigns
from ivr.referrals.desk import ReferralDesk
from ivr.reviews.service import QualityReviews
from ivr.settings import Settings
from ivr.supervision.service import Supervision
from ivr.tickets.filing import OutcomeFiling
from ivr.voicemail.callback_desk import CallbackDesk
from ivr.voicemail.messages import VoicemailMessages
from ivr.webphone.desks import DeskPhones
from ivr.webphone.relay import SipRelay
from ivr.webrequests.articles import ArticleFinder, NoArticles
from ivr.webrequests.channel import WebRequestChannel


@dataclass
class ConsoleServices:
    settings: Settings
    clock: Clock
    queue: QueueView
    tickets: TicketAccess
    outcomes: OutcomeFiling  # the one way an outcome is filed (the API uses the same)
    queries: TicketQueries
    messages: VoicemailMessages
    callback_desk: CallbackDesk  # assign, attempt, close: audited (`ivr voicemail ...` too)
    operators: OperatorAdmin
    closures: ClosureAdmin
    closing: ClosureDesk  # closures added and ended, with their message and audit (`ivr closure` too)
    prompt_names: Callable[[], set[str]]
    accounts: Accounts
    campaigns: RuntimeCampaigns
    callbacks: CallbackService
    live: LiveHub
    throttle: LoginThrottle
    knowledge: KnowledgeBase
    referrals: ReferralDesk
    requests: WebRequestChannel
    prompt_texts: Callable[[], dict[str, str]]
    missed: MissedCalls
    articles: ArticleFinder = field(default_factory=NoArticles)
    desks: DeskPhones | None = None  # the desks' browser phones (None: WebRTC is off)
    relay: SipRelay | None = None  # their SIP WebSocket, relayed to Asterisk on loopback (with desks)
    control: CallControl | None = None  # hold, transfer, consult on the call in progress
    alerts: AlertWatch | None = None  # the live alerts (None: `alerts.enabled` is off)
    reviews: QualityReviews | None = None  # quality reviews of consented recordings
    notices: NoticeDesk | None = None  # service notices said after the welcome
    supervision: Supervision | None = None  # supervisors on live conversations (None: no call control here)

    def __post_init__(self) -> None:
        self.callbacks.on_update.subscribe(self.live.notify)


def monotonic() -> float:
    return asyncio.get_running_loop().time()
