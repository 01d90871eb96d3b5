"""Builds and wires the engine: the only module that knows every concrete class.

Everything else receives its collaborators; tests swap the telephony or the clock here and nowhere
else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from ivr import jobs
from ivr.acd.agents import AgentTransitionError
from ivr.acd.cap import DailyCap
from ivr.acd.confirm import ConfirmingOfferer
from ivr.acd.control import CallControl
from ivr.acd.distributor import Distributor
from ivr.acd.missed import MissedCalls
from ivr.acd.missed_jobs import schedule_missed_sweep
from ivr.acd.operators import OperatorDirectory, phone_security
from ivr.acd.queued import CallbackQueue
from ivr.acd.sync import OperatorSync
from ivr.api.deps import ClosureAdmin, Health, OperatorAdmin, QueueView
from ivr.api.server import WebDeps, make_api
from ivr.assembly import Assembly
from ivr.asterisk.managed import operators_conf, sounds_dirs
from ivr.callflows.bus import CallBus
from ivr.callflows.dialogues import usable
from ivr.callflows.dispatcher import CallDispatcher
from ivr.callflows.language import Language, PlayStep
from ivr.callflows.menu import menu_step
from ivr.callflows.model import Flow, MenuNode, QueueNode
from ivr.callflows.nodes import BASIC_HANDLERS
from ivr.callflows.recovery import Recovery
from ivr.callflows.session import CallSession, NodeHandler, Resume
from ivr.clock import Clock
from ivr.configfile import ConfigError
from ivr.dialout.guard import DialGuard, store_audit
from ivr.factories import (
    make_callback_queue,
    make_queue_step,
)
from ivr.ha.guard import LineGuard
from ivr.ha.state import LineRole
from ivr.hours.calendar import LineCalendar
from ivr.hours.closures import RuntimeClosures
from ivr.hours.notices import LONGEST_RECORDING_S
from ivr.hours.step import HoursStep
from ivr.ops.http import ops_routes
from ivr.ops.memory import schedule_trim
from ivr.ops.runtime import Operations
from ivr.ops.wiring import make_operations
from ivr.privacy.jobs import PrivacyService, asterisk_dirs, schedule_purge
from ivr.prompts.library import PromptLibrary, convert_recording
from ivr.recordings.campaigns import RuntimeCampaigns
from ivr.recordings.consent import ConsentStep
from ivr.recordings.left import keep_left_recording
from ivr.recordings.paths import audio_dirs, recordings_dir
from ivr.recordings.store import RecordingStore
from ivr.recordings.strays import StraySweeper, schedule_stray_sweep
from ivr.settings import Settings
from ivr.stats.export import StatsExporter, schedule_daily_export
from ivr.survey.step import survey_step
from ivr.tasks import TaskSupervisor
from ivr.telephony.ami import AmiMonitor
from ivr.telephony.app_watch import AppWatch
from ivr.telephony.ari import AriClient
from ivr.telephony.ari_resources import AriBridges, AriChannels, AriPbxAdmin, AriStoredRecordings
from ivr.telephony.ari_telephony import AriTelephony
from ivr.telephony.ports import CallChannel, Telephony
from ivr.tickets import sla
from ivr.tickets.sla import Flagged, schedule_sla_check
from ivr.tickets.store import SqlTicketStore
from ivr.version import version
from ivr.voicemail.jobs import schedule_transcription_retry
from ivr.voicemail.messages import VoicemailMessages
from ivr.voicemail.service import VoicemailService
from ivr.voicemail.step import VoicemailStep
from ivr.voicemail.transcribe import VoskTranscriber
from ivr.webrequests.channel import WebRequestChannel

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Engine:
    settings: Settings
    clock: Clock
    prompts: PromptLibrary
    languages: dict[str, Language]
    flow: Flow
    store: SqlTicketStore
    ari: AriClient
    telephony: Telephony
    ami: AmiMonitor
    calendar: LineCalendar
    closures: RuntimeClosures
    handlers: dict[str, NodeHandler]
    bus: CallBus
    distributor: Distributor
    callbacks: CallbackQueue
    missed: MissedCalls
    cap: DailyCap
    operators: OperatorDirectory
    operator_sync: OperatorSync
    recordings: RecordingStore
    voicemail: VoicemailService
    scheduler: Any
    web_requests: WebRequestChannel
    privacy: PrivacyService
    strays: StraySweeper
    stats: StatsExporter
    tasks: TaskSupervisor  # background work of the parts it built; `stop` waits for it
    guard: LineGuard = field(default_factory=LineGuard)  # may it act on the line (ivr.ha.guard)
    line: LineRole = field(default_factory=LineRole)  # active or standby, the lease (ivr.ha)
    control: CallControl | None = None  # hold and transfers from the desk
    dispatcher: CallDispatcher = field(init=False)
    app_watch: AppWatch = field(init=False)
    recovery: Recovery = field(init=False)
    http: WebDeps | None = field(default=None, init=False)  # what the HTTP server and console use
    ops: Operations | None = field(default=None, init=False)  # metrics, systemd, first-run hints
    _api: web.AppRunner | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.dispatcher = CallDispatcher(self._new_session, tasks=self.tasks)
        self.telephony.on_call.subscribe(self.dispatcher.on_call)
        self.dispatcher.on_ended.subscribe(self._call_ended)
        self.recovery = Recovery(
            AriChannels(self.ari),
            AriBridges(self.ari),
            self.store,
            self.dispatcher,
            self.flow,
            self._claim_operator,
            self.clock,
            callback_number=lambda number: usable(number, self.settings.voicemail, self.settings.dialout),
            keep_recording=functools.partial(
                keep_left_recording, self.recordings, self.store, self.clock, self.settings.queue.record_format
            ),
            stored_recordings=AriStoredRecordings(self.ari).list,
            tasks=self.tasks,
        )
        self.telephony.on_adopt.subscribe(self.recovery.adopt)
        self.app_watch = AppWatch(self.ari, self.settings.ha.app_check_every_s, tasks=self.tasks)

    def _call_ended(self, ticket_id: int) -> None:
        """A call that reached nobody and left no message joins the missed-calls work list."""
        self.tasks.spawn(self.missed.note_ended(ticket_id), name=f"missed-{ticket_id}")

    def _claim_operator(self, operator_id: int, ticket_id: int) -> str | None:
        """The operator of a conversation that outlived a restart is busy with it again."""
        login = next((a.login for a in self.distributor.agents.values() if a.info.id == operator_id), None)
        if login is None:
            return None
        try:
            self.distributor.resume_busy(login, ticket_id)
        except AgentTransitionError as exc:
            log.warning("operator %s not taken back for ticket %s: %s", login, ticket_id, exc)
            return None
        return login

    def _new_session(self, channel: CallChannel, resume: Resume | None) -> CallSession:
        return CallSession(
            channel,
            self.flow,
            self.handlers,
            store=self.store,
            clock=self.clock,
            prompts=self.prompts,
            bus=self.bus,
            answer_pause_s=self.settings.service.answer_pause_s,
            resume=resume,
            languages={code: lang.prompts for code, lang in self.languages.items()},
        )

    async def start(self, *, connect_timeout: float = 30.0) -> None:
        _asterisk_dir, local = sounds_dirs(self.settings)
        libraries = {"": self.prompts, **{code: lang.prompts for code, lang in self.languages.items()}}
        for code, library in libraries.items():  # the line's own language, then the others in subfolders
            built = await asyncio.to_thread(self._guarded, "build prompts", library.build)
            installed = await asyncio.to_thread(self._guarded, "install prompts", library.install, local / code)
            rebuilt = sum(b.rebuilt for b in built)
            log.info("prompts %s: %d ready, %d rebuilt, %d installed", code, len(built), rebuilt, installed)
        await self.store.start()
        await self.cap.count(self.clock.now())  # the day's count, to go on from if the database goes away
        await self.telephony.start()
        await self.ami.start()
        await self.ari.wait_connected(connect_timeout)
        await self.ami.wait_logged_in(connect_timeout)
        self.app_watch.start()
        await self.operator_sync.start()
        await self.recovery.run()  # calls that outlived a previous run, now that operators are known
        await self.callbacks.start()  # queued callbacks kept in the store take their places again
        jobs.register("voicemail", self.voicemail)
        schedule_transcription_retry(self.scheduler, self.settings.transcription.retry_every_s)
        schedule_missed_sweep(self.scheduler, self.clock, self.missed)
        jobs.register("sla", self.sla_check)
        schedule_sla_check(self.scheduler, self.settings.sla.check_every_s)
        jobs.register("stats", self.stats)
        schedule_daily_export(self.scheduler, self.settings.stats.export_hour)
        if self.settings.retention.enabled:
            jobs.register("privacy", self.privacy)
            schedule_purge(self.scheduler, self.settings.retention.hour)
        schedule_stray_sweep(self.scheduler, self.strays, self.settings.retention.stray_audio_every_s)
        schedule_trim(self.scheduler)
        self.scheduler.start()
        await self._start_api()
        log.info("engine ready: app %r on %s", self.ari.app, self.ari.base_url)
        if self.ops is not None:
            await self.ops.started(self.bus, api_up=self._api is not None)

    def _guarded(self, action: str, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a worker thread, once the guard said this engine may act."""
        self.guard.check(action)
        return fn(*args)

    async def _start_api(self) -> None:
        console = self.settings.console
        if console.api_token is None:
            log.warning("console.api_token is not set: the API is off (run `ivr setup`)")
            return
        if self.http is None:
            raise RuntimeError("the HTTP server's dependencies are not wired (build the engine with build_engine)")
        app = make_api(self.http)
        if self.ops is not None:
            app.add_routes(ops_routes(self.ops.metrics, self.settings.metrics, self._resync_operators))
        self._api = web.AppRunner(app, access_log=None)
        await self._api.setup()
        await web.TCPSite(self._api, console.bind, console.port).start()
        log.info("API on http://%s:%d/api/", console.bind, console.port)

    async def fence(self, reason: str) -> None:
        """The lease is lost: another engine may be driving the calls now. Stop at once, with no
        drain and no goodbye: no write reaches the store, no request reaches Asterisk, no job runs.
        The process exits next (ivr.ha.runner) and starts again as a standby."""
        self.guard.lose(reason)  # first: whatever runs from here on acts on nothing
        log.error("lease lost (%s): this engine stops driving calls", reason)
        self.line.role, self.line.fenced = "fenced", reason
        self.store.writer.fence(reason)
        self.app_watch.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.ari.close()  # the event socket and every REST request: calls get nothing more from here
        await self.ami.stop()

    async def _resync_operators(self) -> int:
        """An operator added or changed from the command line counts at once (no wait for the sync)."""
        await self.operator_sync.run_once()
        return len(self.distributor.agents)

    async def stop(self, drain_s: float = 5.0) -> None:
        if self.ops is not None:
            await self.ops.stopping()
        self.app_watch.stop()
        await self.dispatcher.drain(drain_s)
        if self._api is not None:
            await self._api.cleanup()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        jobs.unregister("voicemail")
        jobs.unregister("missed")
        jobs.unregister("sla")
        jobs.unregister("privacy")
        jobs.unregister("stats")
        await self.operator_sync.stop()  # its loop runs on the supervisor and never ends by itself
        await self.tasks.stop()  # offers, callbacks, voicemail processing: while ARI and the store are still up
        self.voicemail.transcriber.close()
        await self.telephony.stop()
        await self.ami.stop()
        await self.store.stop()

    async def sla_check(self) -> Flagged:
        """Flag the tickets near or past their due time (the scheduled job calls this)."""
        now = self.clock.now()
        return await sla.Commitments(self.store, self.settings.sla).flag(now)

    async def run_until_signalled(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            log.info("stopping: %d calls in progress", self.dispatcher.active)
            await self.stop()


def build_engine(settings: Settings, guard: LineGuard | None = None, *, clock: Clock | None = None) -> Engine:
    """`guard`: the line's lease as this engine knows it (ivr.ha.runner); without one (tests,
    tools) the engine holds no lease and may always act."""
    guard = guard or LineGuard()
    a = settings.asterisk
    if a.ari.password is None or a.ami.password is None:
        raise ConfigError(
            [
                "asterisk.ari.password / asterisk.ami.password: not set "
                "(run `ivr setup`, or set IVR_ASTERISK__ARI__PASSWORD and IVR_ASTERISK__AMI__PASSWORD)"
            ]
        )
    parts = Assembly(settings, guard=guard, clock=clock)
    db, store, prompts, languages, flow = parts.database, parts.store, parts.prompts, parts.languages, parts.flow
    tasks, ari, ami, calendar, clock = parts.tasks, parts.ari, parts.ami, parts.calendar, parts.clock
    closures = parts.closures
    operators = OperatorDirectory(store, settings.dialout)
    cap = DailyCap(store, settings.queue.daily_cap, settings.service.tz)

    async def persist_presence(login: str, presence: str, reason: str | None) -> None:
        await operators.set_presence(login, presence, reason, clock.now())

    async def ticket_event(ticket_id: int, kind: str, detail: dict[str, Any]) -> None:
        await store.record(ticket_id, kind, clock.now(), detail)

    offerer = ConfirmingOfferer(  # whoever answers an outside number presses 1 to take the call
        DialGuard(  # an operator's home number passes the allow-list, and is audited
            parts.dialler, settings.dialout, store_audit(store, clock.now), "queue", guard
        ),
        prompts,
        settings.queue.confirm_timeout_s,
        ticket_event,
    )

    def operator_moved(login: str, state: str, reason: str | None, at: datetime) -> None:
        store.post("operator.state", login=login, state=state, reason=reason, at=at)

    distributor = Distributor(
        offerer, settings.queue, clock, persist_presence, ticket_event, tasks=tasks, history=operator_moved
    )

    async def ticket_update(ticket_id: int, columns: dict[str, Any]) -> None:
        await store.update(ticket_id, **columns)

    control = CallControl(
        AriBridges(ari),
        distributor,
        offerer,
        ticket_event,
        ticket_update,
        lambda: call_topics(flow, distributor),
        settings.queue.ring_timeout_s,
        tasks=tasks,
    )
    pbx_admin, stored = AriPbxAdmin(ari), AriStoredRecordings(ari)
    recordings = RecordingStore(stored, recordings_dir(settings), store, guard)
    t = settings.transcription
    transcriber = VoskTranscriber(
        t.model_path, workers=t.workers, deterministic=t.deterministic, overlay_root=settings.models_dir
    )
    missed = MissedCalls(store)
    voicemail = VoicemailService(
        store,
        VoicemailMessages(store),
        RecordingStore(stored, settings.voicemail_dir, store, guard),
        transcriber,
        settings.voicemail,
        clock,
        tasks=tasks,
        on_nothing_said=missed.note_ended,
    )
    campaigns = RuntimeCampaigns(store)
    bridging = parts.bridging
    callbacks = make_callback_queue(
        settings,
        parts.dialler,
        guard,
        distributor,
        store,
        bridging,
        prompts,
        languages,
        clock,
        calendar,
        closures,
        flow,
        tasks,
    )
    handlers: dict[str, NodeHandler] = {
        **BASIC_HANDLERS,
        "play": PlayStep(languages, notices=parts.notices.active),  # the welcome, languages, notices
        "hours": HoursStep(calendar, closures),
        "consent": ConsentStep(settings.campaigns, settings.service.tz, prompts, campaigns),
        "menu": menu_step,
        "queue": make_queue_step(settings, distributor, cap, bridging, recordings, callbacks, control),
        "voicemail": VoicemailStep(voicemail, settings.voicemail, settings.dialout),
        "survey": survey_step,
    }
    engine = Engine(
        settings=settings,
        clock=clock,
        prompts=prompts,
        languages=languages,
        flow=flow,
        store=store,
        ari=ari,
        telephony=AriTelephony(ari, language=settings.service.language),
        ami=ami,
        calendar=calendar,
        closures=closures,
        handlers=handlers,
        bus=CallBus(),
        distributor=distributor,
        control=control,
        callbacks=callbacks,
        missed=missed,
        cap=cap,
        operators=operators,
        operator_sync=OperatorSync(
            operators,
            distributor,
            pbx_admin,
            ami,
            operators_conf(settings),
            list(settings.asterisk.trunk.codecs),
            security=phone_security(settings.asterisk.sip),
            desks=parts.desk_phones,
            tasks=tasks,
            guard=guard,
        ),
        recordings=recordings,
        voicemail=voicemail,
        scheduler=jobs.make_scheduler(db, settings.service.timezone),
        privacy=PrivacyService(
            db,
            settings.retention,
            clock,
            asterisk_dirs(settings),
            rotate_logs=lambda: pbx_admin.rotate_log("messages.log"),
            audio_dirs=audio_dirs(settings),
            guard=guard,
        ),
        strays=StraySweeper(db, audio_dirs(settings), settings.retention.stray_audio_grace_s, guard),
        stats=StatsExporter(
            store.run_read,
            settings.stats,
            settings.stats.opendata_path(settings.paths.data_dir),
            clock,
            settings.service.tz,
            guard,
            reasons=settings.reasons,
        ),
        web_requests=WebRequestChannel(
            store,
            parts.mailer,
            clock,
            settings.web_requests,
            settings.sla,
            tz=settings.service.tz,
            service_name=settings.service.name,
        ),
        tasks=tasks,
        guard=guard,
    )
    engine.http = _web_deps(engine, parts, campaigns)
    engine.ops = make_operations(
        settings,
        clock,
        store,
        engine.dispatcher,
        distributor,
        cap,
        ari,
        ami,
        version=version(),
        alerts=engine.http.console.alerts if engine.http.console is not None else None,
    )
    return engine


def _web_deps(engine: Engine, parts: Assembly, campaigns: RuntimeCampaigns) -> WebDeps:
    """The HTTP server's and the console's narrow view of the engine's parts."""
    s = engine.settings
    queue = QueueView(engine.distributor, engine.cap, lambda: engine.dispatcher.active)

    def closure_prompt(name: str, text: str, target_dir: Path) -> Path:
        engine.guard.check("write a closure's prompt")  # a file Asterisk plays: not a fenced engine's
        return engine.prompts.build_one(name, text, target_dir)

    def notice_recording(name: str, source: Path, target_dir: Path) -> Path:
        engine.guard.check("write a notice's recording")
        return convert_recording(name, source, target_dir, longest_s=LONGEST_RECORDING_S)

    console = parts.console(
        campaigns,
        queue=queue,
        operators=OperatorAdmin(engine.operators, engine.operator_sync.run_once),
        closures=ClosureAdmin(engine.closures, engine.calendar, s.hours.closures, closure_prompt, notice_recording),
        requests=engine.web_requests,
        control=engine.control,
        missed=engine.missed,
        messages=engine.voicemail.messages,
    )
    health = Health(
        ari_connected=engine.ari.connected.is_set,
        ami_logged_in=engine.ami.logged_in.is_set,
        calls_in_progress=queue.calls_in_progress,
        store_degraded=lambda: engine.store.degraded,
        store_outages=lambda: engine.store.writer.outages,
        recordings={"calls": engine.recordings, "voicemail": engine.voicemail.recordings},
        ari_app=engine.app_watch.healthy,
        refresh=engine.app_watch.check,
        role=engine.line.report,
        outbox_backlog=lambda: engine.store.writer.outbox.count() if engine.store.writer.outbox else 0,
        outbox_rejected=lambda: engine.store.writer.outbox.rejected_count() if engine.store.writer.outbox else 0,
    )
    return WebDeps(s, engine.clock, queue, engine.store, health, engine.web_requests, console.outcomes, console)


def call_topics(flow: Flow, distributor: Distributor) -> set[str]:
    """Topics a call can be transferred to: those the flow's menus and queues name, and those
    operators are skilled in."""
    topics = {skill for agent in distributor.agents.values() for skill in agent.info.skills}
    for node in flow.nodes.values():
        if isinstance(node, MenuNode):
            topics.update(o.topic for o in [*node.options.values(), node.default] if o.topic)
        elif isinstance(node, QueueNode) and node.topic:
            topics.add(node.topic)
    return topics
