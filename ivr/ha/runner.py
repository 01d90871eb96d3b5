"""`ivr run`: take the line's lease, or refuse, or wait for it as a standby; then keep it.

Exit codes of `ivr run`: 0 stopped by a signal; 3 another engine is active (without
`--standby`); 4 the lease was lost and this engine fenced itself (systemd restarts it, and with
`--standby` it waits for the lease again).

A standby builds nothing that touches Asterisk, the scheduler or the store's writes: it asks for
the lease every `ha.standby_poll_s` and answers `/api/health` (role standby) and `/api/ready`
(503). Once it holds the lease it starts as any engine starts after a crash (ARI, recovery of
every call from its ticket, jobs).

The active engine renews every `ha.renew_every_s`. It counts its lease valid until the moment it
sent its last successful renewal plus the ttl, less a margin; the database sets the expiry from its
own clock after receiving that renewal, so this engine always gives up before a standby can take
over. That knowledge lives in the engine's LineGuard (ivr.ha.guard), which every action outside
the database asks first (ARI requests, dial-outs, PJSIP, e-mail, files): a process frozen past its
lease refuses its first action on waking, before this loop has even run. Giving up (fencing)
means: the guard refuses everything, the writer refuses every write, the ARI socket and client
close, the scheduler stops, the lease is released if still ours; then the process exits with 4
rather than try to tidy up calls that are no longer its own. Writes the fenced engine had put in
its outbox stay there for its next run, which replays them as soon as it stands by (or on taking
the lease), as an earlier run's: nothing the active engine wrote meanwhile is overwritten
(ivr.tickets.replay). An engine that had to refuse an action while its lease was
stale gives the line up so, even when nobody took the lease meanwhile (ivr.ha.guard).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from aiohttp import web
from sqlalchemy import text

from ivr.ha.app_probe import app_held
from ivr.ha.guard import LineGuard
from ivr.ha.lease import FileLease, Holder, Lease, lease_for
from ivr.ha.standby_api import standby_api
from ivr.ha.state import LineRole
from ivr.repeats import Repeats
from ivr.settings import Settings
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.salvage import replay_earlier_run
from ivr.tickets.store import SqlTicketStore


class _Calls(Protocol):
    @property
    def active(self) -> int: ...


class Engine(Protocol):
    """What the runner needs of the engine it builds (`ivr.app.Engine`): the line's own layer
    does not import the wiring that assembles it."""

    line: LineRole
    store: SqlTicketStore

    @property
    def dispatcher(self) -> _Calls: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def fence(self, reason: str) -> None: ...


log = logging.getLogger(__name__)
T = TypeVar("T")
EXIT_BUSY = 3
EXIT_FENCED = 4


class LineRunner:
    def __init__(
        self,
        settings: Settings,
        lease: Lease,
        build: Callable[[LineGuard], Engine],
        *,
        standby: bool,
        kind: str,
        exit_when_fenced: bool = False,
    ) -> None:
        self.settings = settings
        self.ha = settings.ha
        self.lease = lease
        self.build = build
        self.standby = standby
        self.kind = kind  # "file lock" or "lease row", for health
        self.exit_when_fenced = exit_when_fenced  # `ivr run`: the process ends right after fencing
        self.holder: Holder | None = None
        # The lease's requests on threads of their own: on the default executor they queued behind
        # the engine's other work in threads, and on a loaded machine renewals timed out there with
        # the database answering (full run 8: five engines fenced in 20 minutes, no fault injected).
        self._lease_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lease")
        self._earlier_outbox = settings.database.outbox  # an earlier run's writes to replay while standing by
        self._stop = asyncio.Event()
        self._standby_http: web.AppRunner | None = None
        self.engine: Engine | None = None
        # The guard refuses on stale renewals only where a stale lease can be taken over (the
        # lease row), and only if this engine is to give up when it cannot renew.
        self._timed = lease.expires and self.ha.fence_on_store_loss
        # Past the lease, Asterisk's word that the app is still ours keeps the calls going.
        self._ride = self._timed and self.ha.keep_calls_on_store_loss
        self.guard = LineGuard(app_proof_s=self.ha.app_proof_s if self._ride else None)
        self.margin = min(1.0, self.ha.lease_ttl_s * 0.2)
        self._run_out_seen: tuple[float, int] | None = None  # (when, token) a run-out lease was first seen
        self._store_away = Repeats(log, f"lease {lease.name!r}: the store does not answer")

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self._stop.set)
        try:
            acquired_at = await self._acquire()
            if acquired_at is None:
                return 0 if self.standby else EXIT_BUSY
            return await self._active(acquired_at)
        finally:
            await self._stop_standby_http()
            await self._on_lease_thread(self.lease.close)
            self._lease_threads.shutdown(wait=False)

    def _on_lease_thread(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._lease_threads, fn)

    async def _try(self, *, take_expired: bool = True) -> Holder | Exception | None:
        try:
            attempt = functools.partial(self.lease.try_acquire, take_expired=take_expired)
            return await asyncio.wait_for(self._on_lease_thread(attempt), self.ha.lease_ttl_s)
        except Exception as exc:  # the store unreachable: a standby keeps asking
            return exc

    async def _run_out(self, holder: Holder) -> Holder | Exception | None:
        """The lease ran out without being released. Its engine may be dead (take it now), frozen,
        or back from a database outage it rode on Asterisk's word, about to renew (ivr.ha.app_probe):
        take it at once only when no socket holds the app, else once it stayed run out a lease
        term since first seen."""
        now = self.guard.now()
        if self._run_out_seen is None or self._run_out_seen[1] != holder.token:
            self._run_out_seen = (now, holder.token)
            if await app_held(self.settings) is False:
                return await self._try()
            log.info("the lease ran out but the app is still held: %g s for its holder to renew", self.ha.lease_ttl_s)
            return holder
        if now - self._run_out_seen[0] >= self.ha.lease_ttl_s:
            return await self._try()
        return holder

    async def _acquire(self) -> float | None:
        """The guard's time the lease was taken at; None when refused or stopped while waiting."""
        while True:
            asked = self.guard.now()
            result = await self._try(take_expired=not self._ride)
            if isinstance(result, Holder) and result.expired:
                result = await self._run_out(result)
            else:
                self._run_out_seen = None
            if not isinstance(result, Exception):
                self._store_away.ok(self.guard.now())
            if result is None:
                log.info("lease %r taken (token %s): this engine is active", self.lease.name, self.lease.token)
                return asked
            if isinstance(result, Exception):
                if not self.standby:
                    raise result
                self._store_away.failing(self.guard.now(), result)
            else:
                self.holder = result
                if self.standby:
                    await self._replay_earlier_outbox()
                if not self.standby:
                    print(
                        f"ivr: another engine is active on line {self.lease.name!r}: {result.describe()}; "
                        "not starting (use --standby to wait and take over when it stops)",
                        file=sys.stderr,
                    )
                    return None
            if self._standby_http is None:
                log.info("standby: %s is active; waiting for the lease", result)
                await self._start_standby_http()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.ha.standby_poll_s)
                return None

    async def _replay_earlier_outbox(self) -> None:
        """What this engine's earlier run left in its outbox, replayed while another engine is
        active (ivr.tickets.salvage): once done, never again in this run."""
        if not self._earlier_outbox:
            return
        db = make_engine(self.settings.database_url)
        try:
            await asyncio.to_thread(replay_earlier_run, db, self.settings.outbox_path)
            self._earlier_outbox = False
        except Exception as exc:  # the store away, most likely: the next poll tries again
            log.warning("outbox of an earlier run not replayed yet: %s", str(exc) or type(exc).__name__)
        finally:
            db.dispose()

    async def _active(self, acquired_at: float) -> int:
        await self._stop_standby_http()  # the engine's own API takes the port
        self._held(acquired_at)  # before anything is built: the engine acts only through the guard
        engine = self.engine = self.build(self.guard)
        engine.line.role, engine.line.lease, engine.line.token = "active", self.kind, self.lease.token
        engine.line.holder = await self._on_lease_thread(self.lease.holder)
        engine.store.writer.guard = self.lease.check
        keeper = asyncio.ensure_future(self._keep(acquired_at))
        try:
            start = asyncio.ensure_future(engine.start())
            await asyncio.wait({start, keeper}, return_when=asyncio.FIRST_COMPLETED)
            if keeper.done():
                start.cancel()
                return await self._fence(engine, keeper.result())
            start.result()
            stop = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({stop, keeper}, return_when=asyncio.FIRST_COMPLETED)
            if keeper.done():
                stop.cancel()
                return await self._fence(engine, keeper.result())
            log.info("stopping: %d calls in progress", engine.dispatcher.active)
            keeper.cancel()
            await engine.stop()
            await self._on_lease_thread(self.lease.release)  # a standby takes over now, not after the ttl
            return 0
        finally:
            keeper.cancel()

    def _left_undone(self) -> str | None:
        """Why this engine must give the line up though nobody took its lease: it refused to act
        while the lease was stale (ivr.ha.guard), and what it left (a call's next step, a call
        that arrived meanwhile) is nobody's until another engine adopts the calls in the app."""
        if self.guard.stale_refused is None:
            return None
        return f"it was stalled past its lease and left work undone ({self.guard.stale_refused})"

    async def _fence(self, engine: Engine, reason: str) -> int:
        self.guard.lose(reason)
        self.lease.lose()
        await engine.fence(reason)
        await self._give_up_lease()
        if self.exit_when_fenced:
            # Calls, offers and timers of a fenced engine are not its own any more: no clean-up
            # runs (it would act on them), no thread stuck on the lost database is waited for;
            # systemd starts the process again, as a standby.
            logging.shutdown()
            os._exit(EXIT_FENCED)
        return EXIT_FENCED

    async def _give_up_lease(self) -> None:
        """Once fenced (nothing acts any more), release the lease if it is still ours (a stall
        nobody took it over in): a standby takes it at once and adopts the calls, rather than
        after its expiry and a term for its holder to renew. Taken by another engine, nothing
        changes (the release is for our token only)."""
        try:
            await asyncio.wait_for(self._on_lease_thread(self.lease.release), max(1.0, self.ha.renew_every_s))
        except Exception as exc:  # the store away: a standby takes the lease once it runs out
            why = str(exc) or type(exc).__name__
            log.warning("lease %r not released (%s): it runs out by itself", self.lease.name, why)

    def _held(self, sent: float) -> float:
        """A request sent at `sent` took or renewed the lease: until when it is ours."""
        term = self.ha.lease_ttl_s - self.margin
        if self._timed:
            self.guard.hold(sent, term)
        return sent + term

    async def _keep(self, acquired_at: float) -> str:
        """Renew until the lease is lost; returns why. Times are the guard's clock."""
        now = self.guard.now
        valid_until = self._held(acquired_at)
        riding: float | None = None  # since when the engine rides a store outage on Asterisk's proofs
        while True:
            pause = self.ha.renew_every_s
            await asyncio.sleep(pause if riding is not None else max(0.0, min(pause, valid_until - now())))
            if self.guard.lost is not None:  # Asterisk gave the app to the engine that took over
                return self.guard.lost
            if (left := self._left_undone()) is not None:
                return left
            sent = now()
            try:
                renew = functools.partial(self.lease.renew, after_expiry=riding is not None)
                timeout = self.ha.lease_ttl_s if riding is not None else max(0.05, valid_until - sent)
                renewed: bool | None = await asyncio.wait_for(self._on_lease_thread(renew), timeout)
            except Exception as exc:  # unreachable store, timeout: the lease may still be ours
                if riding is None:
                    log.warning("lease %r not renewed: %s", self.lease.name, str(exc) or type(exc).__name__)
                renewed = None
            if renewed:
                if (left := self._left_undone()) is not None:
                    return left  # renewed, but what was refused meanwhile is nobody's: not going on
                valid_until = self._held(sent)
                if riding is not None:
                    log.warning("lease %r renewed: %.1f s riding on Asterisk's word", self.lease.name, sent - riding)
                riding = None
                continue
            if renewed is False:
                return "the lease was taken by another engine or expired"
            if now() >= valid_until and self.ha.fence_on_store_loss:
                if not self._ride:
                    return f"the lease could not be renewed for {self.ha.lease_ttl_s:g} s"
                if riding is None:
                    riding = now()
                    log.error(
                        "lease %r not renewed for %g s: calls go on while Asterisk confirms the app is ours "
                        "(ha.keep_calls_on_store_loss); writes wait in the outbox",
                        self.lease.name,
                        self.ha.lease_ttl_s,
                    )

    async def _start_standby_http(self) -> None:
        console = self.settings.console
        if console.api_token is None:
            return
        app = standby_api(self.settings, lambda: self.holder)
        self._standby_http = web.AppRunner(app, access_log=None)
        await self._standby_http.setup()
        await web.TCPSite(self._standby_http, console.bind, console.port).start()

    async def _stop_standby_http(self) -> None:
        if self._standby_http is not None:
            await self._standby_http.cleanup()
            self._standby_http = None


def run_line(
    settings: Settings,
    build: Callable[[Settings, LineGuard], Engine],
    *,
    standby: bool,
    install_commands: Callable[[], object],
) -> int:
    """`ivr run [--standby]`: the process's exit code (see the module's docstring).

    `install_commands` fills the outbox's command table: a standby replays its earlier run's
    outbox before any engine is built, so the table cannot wait for the engine's assembly."""
    install_commands()
    name = settings.ha.lease_name or settings.asterisk.ari.app
    if settings.database.auto_upgrade:
        _schema_first(settings.database_url)
    lease = lease_for(settings.database_url, name, settings.ha.lease_ttl_s)
    kind = "file lock" if isinstance(lease, FileLease) else "lease row"
    runner = LineRunner(
        settings, lease, lambda guard: build(settings, guard), standby=standby, kind=kind, exit_when_fenced=True
    )
    return asyncio.run(runner.run())


def _schema_first(url: str) -> None:
    """The lease row needs its table: bring the schema up first, engines starting together taking
    turns (an advisory lock); at the latest revision this writes nothing."""
    db = make_engine(url)
    try:
        if db.dialect.name != "postgresql":
            return  # the lock file needs no table; the engine upgrades once it holds the lock
        with db.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _SCHEMA_LOCK})
            try:
                upgrade(db)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _SCHEMA_LOCK})
    finally:
        db.dispose()


_SCHEMA_LOCK = 0x4E554C  # "NUL"
