"""The alert watch: reads the line every `alerts.check_every_s`, keeps the alerts in force, wakes
the wallboard when they change and e-mails supervisors once when one turns amber or red.

An alert is raised when its key appears, or its level rises (amber to red); it is cleared when
its key is gone. A reading that fails (the database away) keeps the last alerts on show and says
so (`stale`), rather than turning the board green while nobody can see the line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from ivr.alerts.config import AlertSettings
from ivr.alerts.rules import RANK, Alert, Reading, evaluate
from ivr.tasks import TaskSupervisor

log = logging.getLogger(__name__)
Send = Callable[[str, str, str], Awaitable[bool]]  # to, subject, body -> accepted


class AlertWatch:
    def __init__(
        self,
        settings: AlertSettings,
        read: Callable[[], Awaitable[Reading]],
        *,
        notify: Callable[[], None] = lambda: None,
        send: Send | None = None,
        say: Callable[[str], str] = str,
        service_name: str = "",
        tasks: TaskSupervisor | None = None,
    ) -> None:
        """`tasks`: the engine's supervisor, which owns the watch's loop (its own when not given)."""
        self.settings = settings
        self.read = read
        self.notify = notify
        self.send = send
        self.say = say
        self.service_name = service_name
        self.current: list[Alert] = []
        self.since: dict[str, datetime] = {}  # key -> when it was raised at its current level
        self.raised: Counter[tuple[str, str]] = Counter()  # (kind, level) -> times raised since start
        self.mailed: Counter[str] = Counter()  # "sent" / "failed"
        self.stale: str | None = None  # why the last reading failed, while it does
        self.checked_at: datetime | None = None
        self.tasks = tasks or TaskSupervisor("alerts")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.settings.enabled and self._task is None:
            self._task = self.tasks.spawn(self._run(), name="alert-watch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def counts(self) -> Counter[tuple[str, str]]:
        """Alerts in force by (kind, level), for the metrics."""
        return Counter((a.kind, a.level) for a in self.current)

    def view(self) -> dict[str, object]:
        """What the wallboard shows: the alerts, red first, each with when it was raised."""
        return {
            "alerts": [{**a.as_dict(), "since": self.since.get(a.key)} for a in self.current],
            "levels": {a.kind: a.level for a in reversed(self.current)},  # the worst per kind (red sorted first)
            "stale": self.stale,
            "checked_at": self.checked_at,
        }

    async def _run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.settings.check_every_s)

    async def check(self) -> list[Alert]:
        """One reading, compared with the last; returns the alerts raised by it."""
        try:
            reading = await self.read()
        except Exception as exc:  # the database away, a part not ready: the last alerts stay up
            if self.stale is None:
                log.warning("alerts: the line could not be read (%s); the last alerts stay on show", exc)
                self.stale = str(exc) or type(exc).__name__
                self.notify()
            return []
        was_stale, self.stale = self.stale is not None, reading.store_stale
        if self.stale is not None and not was_stale:
            log.warning("alerts: the store's figures are not readable (%s); the last known are used", self.stale)
        self.checked_at = reading.at
        found = evaluate(reading, self.settings, self.say)
        before = {a.key: a for a in self.current}
        raised = [a for a in found if a.key not in before or RANK[a.level] > RANK[before[a.key].level]]
        changed = [a for a in found if a.key in before and a != before[a.key]]
        cleared = set(before) - {a.key for a in found}
        for a in raised:
            self.since[a.key] = reading.at
            self.raised[(a.kind, a.level)] += 1
            log.warning("alert %s (%s): %s", a.key, a.level, a.text)
        for key in cleared:
            self.since.pop(key, None)
            log.info("alert %s cleared", key)
        self.current = found
        if raised or changed or cleared or was_stale != (self.stale is not None):
            self.notify()
        if raised:
            await self._mail(raised)
        return raised

    async def _mail(self, raised: Sequence[Alert]) -> None:
        if self.send is None or not self.settings.mail_to:
            return
        for alert in raised:
            level = "ROSSO" if alert.level == "red" else "AMBRA"
            subject = f"[{self.service_name}] Allarme {level}: {alert.text}"[:200]
            body = (
                f"{alert.text}\n\nLivello: {level.lower()}.\nIl quadro della giornata: /console/wallboard"
                f"{'' if not alert.link else f' (dettagli: {alert.link})'}\n\n"
                "Un solo messaggio per allarme: il prossimo arriva se l'allarme passa al rosso o torna dopo "
                "essere rientrato.\n"
            )
            for to in self.settings.mail_to:  # the mailer logs its own failures and returns False
                sent = await self.send(to, subject, body)
                self.mailed["sent" if sent else "failed"] += 1
