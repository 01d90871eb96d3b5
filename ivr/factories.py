"""How each part of the line is made from the settings: a clock, the prompts, the flow, the ARI
and AMI clients, the console's services. Only the composition root (`ivr.assembly`) and the
engine's wiring (`ivr.app`) use these; everything else asks an `Assembly`, which builds each once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta

from ivr.acd.callbacks import CallbackService
from ivr.acd.cap import DailyCap
from ivr.acd.control import CallControl
from ivr.acd.distributor import Distributor
from ivr.acd.legs import BridgedConversations, OperatorDialer
from ivr.acd.missed import MissedCalls
from ivr.acd.queued import AfterCall, CallbackQueue
from ivr.acd.queued_store import QueuedCallbacks
from ivr.acd.step import QueueStep
from ivr.alerts.reading import AlertFigures, reader
from ivr.alerts.watch import AlertWatch
from ivr.api.deps import ClosureAdmin, OperatorAdmin, QueueView
from ivr.asterisk.managed import sounds_dirs
from ivr.callflows.language import Language
from ivr.callflows.model import Flow, SurveyNode, load_flow
from ivr.callflows.session import CallContext
from ivr.clock import Clock, OffsetFileClock, ShiftedClock, SystemClock
from ivr.configfile import ConfigError
from ivr.console.accounts import Accounts
from ivr.console.labels import label
from ivr.console.live import LiveHub
from ivr.console.queries import TicketQueries
from ivr.console.services import ConsoleServices, monotonic
from ivr.console.throttle import LoginThrottle
from ivr.dialout.guard import DialGuard, store_audit
from ivr.ha.guard import UNLEASED, LineGuard
from ivr.hours.calendar import LineCalendar
from ivr.hours.closing import ClosureDesk
from ivr.hours.closures import RuntimeClosures
from ivr.hours.notices import NoticeDesk, ServiceNotices
from ivr.knowledge.setup import make_knowledge
from ivr.knowledge.suggest import KnowledgeFinder
from ivr.prompts.library import PromptCatalog, PromptLibrary
from ivr.recordings.campaigns import RuntimeCampaigns
from ivr.recordings.store import RecordingStore
from ivr.referrals.desk import ReferralDesk
from ivr.referrals.repository import Referrals
from ivr.reviews.service import QualityReviews
from ivr.settings import Settings
from ivr.supervision.service import Supervision
from ivr.survey.step import survey_step
from ivr.tasks import TaskSupervisor
from ivr.telephony.ari import AriClient
from ivr.telephony.ari_dialer import AriDialer
from ivr.telephony.ari_resources import AriBridges, AriChannels
from ivr.telephony.ports import Snoops
from ivr.telephony.timing import TimedAmiMonitor, TimedAriClient
from ivr.tickets.filing import OutcomeFiling
from ivr.tickets.reasons import CallReasons
from ivr.tickets.repository import Database
from ivr.tickets.store import SqlTicketStore
from ivr.voicemail.callback_desk import CallbackDesk
from ivr.voicemail.messages import VoicemailMessages
from ivr.webphone.desks import DeskPhones
from ivr.webphone.relay import SipRelay
from ivr.webrequests.channel import WebRequestChannel
from ivr.webrequests.mail import SmtpMailer


def make_clock(settings: Settings) -> Clock:
    c = settings.clock
    if c.offset_file is not None:
        return OffsetFileClock(c.offset_file)
    if c.offset_s is not None:
        return ShiftedClock(datetime.now(UTC) + timedelta(seconds=c.offset_s))
    return ShiftedClock(c.start) if c.start else SystemClock()


def make_calendar(settings: Settings) -> LineCalendar:
    return LineCalendar(settings.hours, settings.service.tz)


def make_prompts(settings: Settings) -> PromptLibrary:
    asterisk_dir, _local = sounds_dirs(settings)
    closure_messages = {c.prompt_name: c.message for c in settings.hours.closures if c.message and c.prompt_name}
    return PromptLibrary(
        PromptCatalog.load(settings.prompts.texts),
        build_dir=settings.prompts_build_dir,
        custom_dir=settings.prompts.custom_dir,
        asterisk_dir=asterisk_dir,
        variables={
            "service": settings.service.name,
            "hours": make_calendar(settings).describe_week(),
            "leave_key": _spoken_key(settings.queue.leave_key),
            "callback_key": _spoken_key(settings.queue.callback_key),
        },
        extra=closure_messages,
        voice=settings.prompts.voice,
        speed_wpm=settings.prompts.speed_wpm,
    )


def make_language_prompts(settings: Settings, line: PromptLibrary) -> dict[str, PromptLibrary]:
    """The other languages' prompts (`prompts.languages`): each in its own subfolder of the
    line's prompt folders, speaking from the line's library what it has no text for."""
    asterisk_dir, _local = sounds_dirs(settings)
    p = settings.prompts
    out: dict[str, PromptLibrary] = {}
    for code, lang in p.languages.items():
        texts = lang.texts if lang.texts.is_absolute() else p.texts.parent / lang.texts
        out[code] = PromptLibrary(
            PromptCatalog.load(texts),
            build_dir=settings.prompts_build_dir / code,
            custom_dir=p.custom_dir / code,
            asterisk_dir=f"{asterisk_dir}/{code}",
            variables={**line.variables, "language_key": lang.key},
            voice=lang.voice,
            speed_wpm=p.speed_wpm,
            fallback=line,
        )
    return out


def make_queue_step(
    settings: Settings,
    distributor: Distributor,
    cap: DailyCap,
    bridging: BridgedConversations,
    recordings: RecordingStore,
    callbacks: CallbackQueue,
    control: CallControl | None = None,
) -> QueueStep:
    """The `queue` node, with the queued callback's offer and its number dialogue, and the desk's
    hold and transfers."""
    return QueueStep(
        distributor,
        cap,
        bridging,
        settings.queue,
        recordings,
        control=control,
        callbacks=callbacks,
        voicemail=settings.voicemail,
        dialout=settings.dialout,
    )


def make_callback_queue(
    settings: Settings,
    dialler: OperatorDialer,
    guard: LineGuard,
    distributor: Distributor,
    store: SqlTicketStore,
    bridging: BridgedConversations,
    prompts: PromptLibrary,
    languages: Mapping[str, Language],
    clock: Clock,
    calendar: LineCalendar,
    closures: RuntimeClosures,
    flow: Flow,
    tasks: TaskSupervisor,
) -> CallbackQueue:
    """The queued callbacks: citizens dialled through the carrier (allow-list and audit), attempts
    only while the line is open, the flow's questionnaire after the conversation."""

    async def line_open(now: datetime) -> bool:
        return calendar.status(now, await closures.active(now), with_next=False).open

    dial = DialGuard(dialler, settings.dialout, store_audit(store, clock.now), "queued_callback", guard)
    return CallbackQueue(
        distributor,
        QueuedCallbacks(store),
        store,
        dial,
        bridging,
        lambda code: languages[code].prompts if code is not None and code in languages else prompts,
        clock,
        settings.queue,
        line_open,
        settings.service.tz,
        caller_id=settings.service.did,
        after_call=after_call(flow),
        tasks=tasks,
    )


def after_call(flow: Flow) -> AfterCall | None:
    """The flow's questionnaire, for a conversation that did not come through the flow (a queued
    callback): its node, run by the node type's own handler."""
    node = next((n for n in flow.nodes.values() if isinstance(n, SurveyNode)), None)
    if node is None:
        return None

    async def questionnaire(ctx: CallContext) -> None:
        await survey_step(ctx, node)

    return questionnaire


def _spoken_key(key: str) -> str:
    return {"*": "asterisco", "#": "cancelletto"}.get(key, key)


def load_main_flow(settings: Settings, prompts: PromptLibrary) -> Flow:
    path = settings.callflow
    if not path.exists():
        raise ConfigError([f"{path}: the main call flow is missing"])
    flow = load_flow(path, prompts.names())
    named = [("hours.closures", c.prompt) for c in settings.hours.closures if c.prompt]
    named += [("campaigns", c.notice_prompt) for c in settings.campaigns]
    missing = [
        f"{where}: prompt {name!r} is not in {settings.prompts.texts}"
        for where, name in named
        if name not in prompts.names()
    ]
    if missing:
        raise ConfigError(missing)
    return flow


def make_ari(settings: Settings, tasks: TaskSupervisor | None = None, guard: LineGuard = UNLEASED) -> TimedAriClient:
    a = settings.asterisk
    assert a.ari.password is not None
    return TimedAriClient(
        f"http://{a.host}:{a.ari.port}",
        a.ari.app,
        a.ari.username,
        a.ari.password.get_secret_value(),
        heartbeat_s=a.ari.heartbeat_s,
        request_timeout_s=a.ari.request_timeout_s,
        reconnect_max_s=a.ari.reconnect_max_s,
        retry_window_s=a.ari.retry_window_s,
        tasks=tasks,
        guard=guard,
    )


def make_offerer(settings: Settings, ari: AriClient) -> OperatorDialer:
    """Rings operators (and, for callbacks, citizens) on ARI."""
    return OperatorDialer(AriDialer(ari, language=settings.service.language))


def make_bridging(settings: Settings, ari: AriClient) -> BridgedConversations:
    """Conversations between two legs in ARI bridges."""
    return BridgedConversations(AriBridges(ari), AriChannels(ari), record_format=settings.queue.record_format)


def make_ami(settings: Settings) -> TimedAmiMonitor:
    a = settings.asterisk
    assert a.ami.password is not None
    return TimedAmiMonitor(
        a.host,
        a.ami.port,
        a.ami.username,
        a.ami.password.get_secret_value(),
        action_timeout_s=a.ami.action_timeout_s,
        ping_interval_s=a.ami.ping_interval_s,
    )


def make_closures(settings: Settings, db: Database) -> RuntimeClosures:
    asterisk_dir, local = sounds_dirs(settings)
    return RuntimeClosures(db, asterisk_dir=asterisk_dir, local_dir=local)


def make_notices(settings: Settings, db: Database) -> ServiceNotices:
    """Service notices, spoken from the same folder as closures' messages."""
    asterisk_dir, local = sounds_dirs(settings)
    return ServiceNotices(db, asterisk_dir=asterisk_dir, local_dir=local)


def make_desk_phones(settings: Settings, db: Database, clock: Clock) -> DeskPhones | None:
    """The desks' browser phones (None with WebRTC off), their credentials bound to the console
    sessions they were made for: valid only while the accounts say the session is (the same idle
    and absolute limits as the console's own check, on the engine's clock)."""
    webrtc = settings.asterisk.webrtc
    if not webrtc.enabled:
        return None
    accounts, c = Accounts(db), settings.console
    idle, absolute = timedelta(minutes=c.session_idle_min), timedelta(hours=c.session_max_h)

    async def live_sessions(digests: Collection[str]) -> dict[str, str]:
        return await accounts.live_operators(digests, clock.now(), idle=idle, absolute=absolute)

    return DeskPhones(webrtc, clock.monotonic, live_sessions)


def make_console_services(
    settings: Settings,
    dialler: OperatorDialer,
    bridging: BridgedConversations,
    mailer: SmtpMailer,
    guard: LineGuard,
    store: SqlTicketStore,
    clock: Clock,
    campaigns: RuntimeCampaigns,
    *,
    queue: QueueView,
    operators: OperatorAdmin,
    closures: ClosureAdmin,
    prompt_names: Callable[[], set[str]],
    tasks: TaskSupervisor,
    requests: WebRequestChannel,
    prompt_texts: Callable[[], dict[str, str]],
    desks: DeskPhones | None = None,
    control: CallControl | None = None,
    missed: MissedCalls | None = None,
    messages: VoicemailMessages | None = None,
    notices: ServiceNotices | None = None,
    snoops: Snoops | None = None,
) -> ConsoleServices:
    """The console's dependencies: the queue, the tickets, the admin of operators and closures,
    the accounts, and the callback workflow (which rings through ARI)."""
    c, q = settings.console, settings.queue
    callbacks = CallbackService(
        dialler,
        bridging,
        queue.distributor,
        store,
        clock,
        ring_timeout_s=q.ring_timeout_s,
        caller_id=settings.service.did,
        dialout=settings.dialout,
        tasks=tasks,
        guard=guard,
    )
    knowledge = make_knowledge(settings, store)
    accounts = Accounts(store)
    box = messages or VoicemailMessages(store)  # the engine's own, when it has them
    live = LiveHub(queue.distributor)
    supervision = None
    if control is not None and snoops is not None:
        supervision = Supervision(
            settings.supervision, control, snoops, accounts.audit, clock, tasks=tasks, notify=live.notify
        )
    return ConsoleServices(
        settings=settings,
        clock=clock,
        queue=queue,
        tickets=store,
        outcomes=OutcomeFiling(store, CallReasons(settings.reasons)),
        queries=TicketQueries(store),
        messages=box,
        callback_desk=CallbackDesk(box, accounts.audit),
        operators=operators,
        closures=closures,
        closing=ClosureDesk(
            closures.closures, closures.build_message, accounts.audit, next_opening=closures.calendar.next_opening
        ),
        prompt_names=prompt_names,
        accounts=accounts,
        campaigns=campaigns,
        callbacks=callbacks,
        live=live,
        throttle=LoginThrottle(
            c.login_max_failures, c.login_lockout_min * 60, monotonic, max_concurrent=c.login_max_concurrent
        ),
        requests=requests,
        prompt_texts=prompt_texts,
        referrals=ReferralDesk(
            Referrals(store),
            mailer,
            clock,
            tz=settings.service.tz,
            service_name=settings.service.name,
        ),
        knowledge=knowledge,
        missed=missed or MissedCalls(store),
        articles=KnowledgeFinder(knowledge, clock, settings.service.tz),
        desks=desks,
        relay=None
        if desks is None
        else SipRelay.to_asterisk(settings.asterisk.host, settings.asterisk.ari.port, monotonic),
        control=control,
        alerts=make_alerts(settings, store, queue, clock, mailer, live.notify, tasks),
        reviews=QualityReviews(store, settings.reviews),
        notices=None
        if notices is None
        else NoticeDesk(notices, closures.build_message, accounts.audit, closures.convert_message),
        supervision=supervision,
    )


def make_alerts(
    settings: Settings,
    store: SqlTicketStore,
    queue: QueueView,
    clock: Clock,
    mailer: SmtpMailer,
    notify: Callable[[], None],
    tasks: TaskSupervisor,
) -> AlertWatch | None:
    """The live alerts on the queue's own view and the store, mailed through the line's mailer."""
    if not settings.alerts.enabled:
        return None
    read = reader(
        AlertFigures(store),
        queue.snapshot,
        queue.admitted,
        queue.daily_cap,
        clock.now,
        queue.day_of,
        settings.stats.service_level_s,
        settings.sla,
        spawn=lambda job: tasks.spawn(job, name="alert-store-figures"),
    )
    send = mailer.send if settings.mail.host is not None else None
    name = settings.service.name
    return AlertWatch(settings.alerts, read, notify=notify, send=send, say=label, service_name=name, tasks=tasks)


def prompt_texts(prompts: PromptLibrary) -> Callable[[], dict[str, str]]:
    """Every prompt's text as callers hear it (config values filled in), for readability figures."""
    return lambda: {name: prompts.text(name) for name in sorted(prompts.names())}
