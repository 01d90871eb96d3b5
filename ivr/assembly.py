"""The composition root: the line's parts, each built once from the settings.

The engine (`ivr.app.build_engine`), the HTTP host and console it serves (`ivr.app`), and the
command line (`ivr.cli`, `ivr.commands`) ask one `Assembly` for what they need: a part asked for
twice is the same object, so the console's callbacks ring through the engine's own dialler and
bridges and send mail through its one mailer, under its one lease guard. How each part is made
is in `ivr.factories`, which nothing else imports (`tests/unit/test_assembly.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from sqlalchemy import Engine as SqlEngine

from ivr.acd.control import CallControl
from ivr.acd.legs import BridgedConversations, OperatorDialer
from ivr.acd.missed import MissedCalls
from ivr.api.deps import ClosureAdmin, OperatorAdmin, QueueView
from ivr.callflows.language import Language
from ivr.callflows.model import Flow
from ivr.clock import Clock
from ivr.command_table import install as install_commands
from ivr.console.services import ConsoleServices
from ivr.factories import (
    load_main_flow,
    make_ami,
    make_ari,
    make_bridging,
    make_calendar,
    make_clock,
    make_closures,
    make_console_services,
    make_desk_phones,
    make_language_prompts,
    make_notices,
    make_offerer,
    make_prompts,
    prompt_texts,
)
from ivr.ha.guard import LineGuard
from ivr.hours.calendar import LineCalendar
from ivr.hours.closures import RuntimeClosures
from ivr.hours.notices import ServiceNotices
from ivr.prompts.library import PromptLibrary
from ivr.recordings.campaigns import RuntimeCampaigns
from ivr.settings import Settings
from ivr.tasks import TaskSupervisor
from ivr.telephony.ari_snoop import AriSnoops
from ivr.telephony.timing import TimedAmiMonitor, TimedAriClient
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.outbox import Outbox
from ivr.tickets.repository import Database
from ivr.tickets.store import SqlTicketStore
from ivr.voicemail.messages import VoicemailMessages
from ivr.webphone.desks import DeskPhones
from ivr.webrequests.channel import WebRequestChannel
from ivr.webrequests.mail import SmtpMailer


class Assembly:
    """`guard`: the line's lease as this process knows it (none: a tool that may always act);
    `clock`: a clock given by a test, else the settings' own; `store`: a ticket store already
    open, else one built on the settings' database."""

    def __init__(
        self,
        settings: Settings,
        *,
        guard: LineGuard | None = None,
        clock: Clock | None = None,
        store: SqlTicketStore | None = None,
    ) -> None:
        self.settings = settings
        self.guard = guard or LineGuard()
        self.tasks = TaskSupervisor("engine")  # every background task of the parts built here
        self._clock = clock
        if store is not None:  # a store of the caller's own (the console's tests): the parts use it
            self.__dict__["store"] = store

    @cached_property
    def clock(self) -> Clock:
        return self._clock or make_clock(self.settings)

    @cached_property
    def calendar(self) -> LineCalendar:
        return make_calendar(self.settings)

    @cached_property
    def prompts(self) -> PromptLibrary:
        return make_prompts(self.settings)

    @cached_property
    def language_prompts(self) -> dict[str, PromptLibrary]:
        """The other languages' prompts, each speaking from the line's what it has no text for."""
        return make_language_prompts(self.settings, self.prompts)

    @cached_property
    def languages(self) -> dict[str, Language]:
        offered = self.settings.prompts.languages
        return {code: Language(code, offered[code].key, library) for code, library in self.language_prompts.items()}

    @cached_property
    def flow(self) -> Flow:
        return load_main_flow(self.settings, self.prompts)

    @cached_property
    def prompt_texts(self) -> Callable[[], dict[str, str]]:
        return prompt_texts(self.prompts)

    @cached_property
    def ari(self) -> TimedAriClient:
        return make_ari(self.settings, self.tasks, self.guard)

    @cached_property
    def ami(self) -> TimedAmiMonitor:
        return make_ami(self.settings)

    @cached_property
    def dialler(self) -> OperatorDialer:
        """Rings operators and citizens; each user wraps it in its own allow-list and audit."""
        return make_offerer(self.settings, self.ari)

    @cached_property
    def bridging(self) -> BridgedConversations:
        return make_bridging(self.settings, self.ari)

    @cached_property
    def mailer(self) -> SmtpMailer:
        return SmtpMailer(self.settings.mail, self.guard)

    @cached_property
    def database(self) -> SqlEngine:
        db = make_engine(self.settings.database_url, echo=self.settings.database.echo)
        if self.settings.database.auto_upgrade:
            upgrade(db)
        return db

    @cached_property
    def store(self) -> SqlTicketStore:
        outbox = Outbox(self.settings.outbox_path) if self.settings.database.outbox else None
        install_commands()  # before the store: its outbox may replay at once
        return SqlTicketStore(self.database, tz=self.settings.service.tz, outbox=outbox)

    @cached_property
    def closures(self) -> RuntimeClosures:
        return make_closures(self.settings, self.store)

    @cached_property
    def notices(self) -> ServiceNotices:
        return make_notices(self.settings, self.store)

    def closures_on(self, db: Database) -> RuntimeClosures:
        """Closures on a command's own trip to the database (`ivr.clitools.with_store`)."""
        return make_closures(self.settings, db)

    @cached_property
    def desk_phones(self) -> DeskPhones | None:
        return make_desk_phones(self.settings, self.store, self.clock)

    def console(
        self,
        campaigns: RuntimeCampaigns,
        *,
        queue: QueueView,
        operators: OperatorAdmin,
        closures: ClosureAdmin,
        requests: WebRequestChannel,
        control: CallControl | None = None,
        missed: MissedCalls | None = None,
        messages: VoicemailMessages | None = None,
    ) -> ConsoleServices:
        """The console's services on this assembly's own dialler, bridges, mailer, guard and store."""
        return make_console_services(
            self.settings,
            self.dialler,
            self.bridging,
            self.mailer,
            self.guard,
            self.store,
            self.clock,
            campaigns,
            queue=queue,
            operators=operators,
            closures=closures,
            prompt_names=self.prompts.names,
            tasks=self.tasks,
            requests=requests,
            prompt_texts=self.prompt_texts,
            desks=self.desk_phones,
            control=control,
            missed=missed,
            messages=messages,
            notices=self.notices,
            snoops=None if control is None else AriSnoops(self.ari, language=self.settings.service.language),
        )
