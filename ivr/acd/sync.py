"""Keeps the distributor and Asterisk in step with the operators in the store.

The store is the truth for accounts and presence (the CLI and the console write there); every
couple of seconds the engine reads it, regenerates the operators' PJSIP endpoints when they
changed (and reloads PJSIP), and reads which softphones are registered. AMI contact events make
registration changes visible at once; the periodic read repairs anything an event missed.

The same pass keeps the desks' browser phones to live console sessions: before the endpoints are
written, the desks' credentials are pruned against the accounts (ivr.webphone.desks), so a
session ended by any means (even by a command run in another process) leaves Asterisk within one
pass, and a desk without a credential is never counted as registered, whatever Asterisk still
lists, so it is never rung.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from ivr.acd.distributor import Distributor
from ivr.acd.operators import OperatorDirectory, PhoneSecurity, render_pjsip, write_if_changed
from ivr.ha.guard import UNLEASED, Fenced, LineGuard
from ivr.repeats import Repeats
from ivr.tasks import TaskSupervisor
from ivr.telephony.dialstring import TECH, desk_endpoint, desk_login, operator_endpoint, operator_login
from ivr.telephony.errors import AriError, AriUnavailable
from ivr.telephony.ports import PbxAdmin, PbxEvent, PbxMonitor
from ivr.webphone.desks import CLOSED_REASON, DeskPhones, render_desks

log = logging.getLogger(__name__)
REGISTERED = {"Created", "Reachable", "NonQualified", "Updated"}


class OperatorSync:
    def __init__(
        self,
        directory: OperatorDirectory,
        distributor: Distributor,
        pbx: PbxAdmin,
        ami: PbxMonitor,
        conf_path: Path,
        codecs: list[str],
        every_s: float = 2.0,
        security: PhoneSecurity | None = None,
        desks: DeskPhones | None = None,
        tasks: TaskSupervisor | None = None,
        guard: LineGuard = UNLEASED,
    ) -> None:
        """`security`: how operators' phones may connect (default: plain UDP only, no TLS);
        `desks`: the desks' browser phones (None: WebRTC is off); `tasks`: where the periodic
        pass runs (the engine's supervisor); `guard`: a fenced engine neither rewrites the
        operators' PJSIP file nor reloads PJSIP (the active engine does)."""
        self.guard = guard
        self.directory = directory
        self.distributor = distributor
        self.pbx = pbx
        self.ami = ami
        self.conf_path = conf_path
        self.codecs = codecs
        self.security = security or PhoneSecurity(tls=False, plain=True)
        self.desks = desks
        self._lock = asyncio.Lock()  # a desk asking for credentials and the loop both sync
        # Operators whose phone registered over a transport the configuration refuses.
        self.refused: set[str] = set()
        self.desk_contacts: dict[str, set[str]] = {}  # login -> PJSIP ids of the desk's registered contacts
        self.every_s = every_s
        self.reloads = 0
        self.tasks = tasks or TaskSupervisor(type(self).__name__)
        self._task: asyncio.Task[None] | None = None
        ami.on_event("ContactStatus", self._on_contact)

    async def start(self) -> None:
        await self.run_once()
        self._task = self.tasks.spawn(self._loop(), name="operator-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        away = Repeats(log, "operator sync: database unavailable, operators kept as last known")
        while True:
            await asyncio.sleep(self.every_s)
            loop_time = asyncio.get_running_loop().time()
            try:
                await self.run_once()
                away.ok(loop_time)
            except SQLAlchemyError as exc:  # the database is away: operators stay as last known
                away.failing(loop_time, type(exc).__name__)
            except Fenced:  # the engine exits: no sync of its own any more
                raise
            except Exception:
                log.exception("operator sync failed; retrying")

    async def run_once(self) -> None:
        async with self._lock:
            infos = await self.directory.all()
            self.distributor.sync(infos)
            digests = await self.directory.digests()
            text = render_pjsip(digests, self.codecs, self.security)
            desks, ended = self.desks, []
            if desks is not None:  # pruned first: only live sessions' digests are written
                ended = await desks.prune()
                text += render_desks(desks.digests(), list(desks.settings.codecs))
            if await asyncio.to_thread(self._write, text):
                await self._reload_pjsip()
            for login in ended:
                if desks is not None and not desks.holds(login):  # not logged in again meanwhile
                    await self._desk_ended(login)
            await self._read_registrations()
            await self._pause_closed_desks()

    async def _desk_ended(self, login: str) -> None:
        """A desk's session ended (logout, expiry, user or operator disabled, new password): its
        phone is gone at once, and its operator paused like for a closed desk."""
        log.info("operator %s: the desk's console session ended; its SIP credential is withdrawn", login)
        self.distributor.phone_registered(login, False, desk=True)
        await self.pause_desk(login)
        # The reload took the endpoint away, not the registration: without this its contact
        # would stay in Asterisk until it expired (10 minutes for the desk's phone).
        for contact in sorted(self.desk_contacts.pop(login, set())):
            try:
                await self.pbx.remove_contact(contact)
            except (AriError, AriUnavailable) as exc:
                log.warning(
                    "operator %s: the desk's contact %s not removed (%s); it expires by itself", login, contact, exc
                )

    async def _pause_closed_desks(self) -> None:
        """A desk that stopped saying it is there (tab closed or frozen, laptop asleep): its
        operator is paused, so no call rings into nothing. They come back when they choose."""
        if self.desks is None:
            return
        for login in self.desks.overdue():
            await self.pause_desk(login)

    async def pause_desk(self, login: str) -> None:
        agent = self.distributor.agents.get(login)
        if agent is None or not agent.working:
            return
        log.info("operator %s: the desk is closed; paused", login)
        await self.distributor.set_presence(login, "paused", CLOSED_REASON)

    def _write(self, text: str) -> bool:
        self.guard.check("rewrite the operators' PJSIP file")  # asked on the thread, right before
        return write_if_changed(self.conf_path, text)

    async def _reload_pjsip(self) -> None:
        # ARI's module reload, not an AMI CLI command: the engine's AMI account has no right to
        # run commands (nor any other write right), so a leaked AMI password gives no shell.
        self.guard.check("reload PJSIP")
        try:
            await self.pbx.reload_module("res_pjsip.so")
            self.reloads += 1
            log.info("operators' SIP endpoints updated and PJSIP reloaded")
        except (AriError, AriUnavailable) as exc:
            log.error("PJSIP reload failed (%s); operators' phones may not register until it succeeds", exc)
            with contextlib.suppress(OSError):
                self.conf_path.unlink()  # forces a rewrite and reload at the next sync

    async def _read_registrations(self) -> None:
        try:
            online = await self.pbx.online_endpoints(TECH)
        except (AriError, AriUnavailable) as exc:
            log.debug("endpoint states unavailable: %s", exc)
            return
        for login in list(self.distributor.agents):
            self.distributor.phone_registered(login, operator_endpoint(login) in online and login not in self.refused)
            if self.desks is not None:
                desk = desk_endpoint(login) in online and self.desks.holds(login)
                self.distributor.phone_registered(login, desk, desk=True)

    def _on_contact(self, event: PbxEvent) -> None:
        aor = str(event.get("AOR") or "")
        status = str(event.get("ContactStatus") or "")
        desk = desk_login(aor)
        if desk is not None and self.desks is not None:
            contacts = self.desk_contacts.setdefault(desk, set())
            contact = contact_id(aor, str(event.get("URI") or ""))
            if status in REGISTERED:
                contacts.add(contact)
            elif status == "Removed":
                contacts.discard(contact)
            # A contact Asterisk keeps after the credential went (until it expires) is not a desk.
            self.distributor.phone_registered(desk, status in REGISTERED and self.desks.holds(desk), desk=True)
            return
        login = operator_login(aor)
        if login is None:
            return
        registered = status in REGISTERED
        if registered and not self.security.accepts(str(event.get("URI") or "")):
            # Asterisk answers a REGISTER whatever its transport; the engine is what keeps a phone
            # that came over plain UDP from being offered calls (Asterisk could not reach it anyway:
            # the endpoint sends over TLS only).
            if login not in self.refused:
                log.warning(
                    "operator %s: softphone registered over plain UDP, which asterisk.sip.operators_plain_udp "
                    "does not allow here; it gets no calls until it registers over TLS",
                    login,
                )
            self.refused.add(login)
            registered = False
        elif status in REGISTERED or status == "Removed":
            self.refused.discard(login)
        self.distributor.phone_registered(login, registered)


def contact_id(aor: str, uri: str) -> str:
    """The id PJSIP's registrar gives a registered contact: `<aor>;@<md5 of its stored URI>`."""
    return f"{aor};@{hashlib.md5(uri.encode()).hexdigest()}"
