"""The alert watch over successive readings: raised once, raised again only when it turns red or
comes back, cleared when gone; the wallboard woken on every change; one e-mail per raise and
address; a reading that fails keeps the last alerts on show, marked stale."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from ivr.alerts.config import AlertSettings
from ivr.alerts.rules import Reading
from ivr.alerts.watch import AlertWatch
from tests.unit.test_alert_rules import AT, CALM


class Line:
    """Readings in turn; an exception in the list is raised by its reading."""

    def __init__(self, *readings: Reading | Exception) -> None:
        self.readings = list(readings)

    async def read(self) -> Reading:
        item = self.readings.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def at(minutes: float, **changes: object) -> Reading:
    return replace(CALM, at=AT + timedelta(minutes=minutes), **changes)  # type: ignore[arg-type]


async def test_raised_once_again_when_red_cleared_when_gone_and_mailed_per_raise() -> None:
    sent: list[tuple[str, str]] = []
    woken: list[int] = []

    async def send(to: str, subject: str, body: str) -> bool:
        sent.append((to, subject))
        return True

    line = Line(at(0), at(1, longest_wait_s=95), at(2, longest_wait_s=120), at(3, longest_wait_s=200), at(4), at(5))
    settings = AlertSettings(mail_to=["sala@example.it", "capo@example.it"])
    watch = AlertWatch(settings, line.read, notify=lambda: woken.append(1), send=send, service_name="NUL")
    assert await watch.check() == [] and not woken
    (amber,) = await watch.check()
    assert amber.level == "amber" and watch.since["longest_wait"] == AT + timedelta(minutes=1)
    assert await watch.check() == []  # still amber: not raised again, but the board shows the new wait
    assert len(woken) == 2 and "2 min 00 s" in watch.current[0].text
    (red,) = await watch.check()
    assert red.level == "red" and watch.counts() == {("longest_wait", "red"): 1}
    assert await watch.check() == [] and watch.current == [] and "longest_wait" not in watch.since
    assert await watch.check() == [] and len(woken) == 4  # nothing changed: nobody woken
    assert [to for to, _ in sent] == ["sala@example.it", "capo@example.it"] * 2
    assert sent[0][1] == "[NUL] Allarme AMBRA: Un cittadino attende in coda da 1 min 35 s"
    assert sent[2][1].startswith("[NUL] Allarme ROSSO: ")
    assert watch.raised == {("longest_wait", "amber"): 1, ("longest_wait", "red"): 1}
    assert watch.mailed == {"sent": 4}


async def test_a_failed_reading_keeps_the_last_alerts_marked_stale() -> None:
    woken: list[int] = []
    line = Line(at(0, admitted=395), OSError("database away"), OSError("still away"), at(2, admitted=395), at(3))
    watch = AlertWatch(AlertSettings(), line.read, notify=lambda: woken.append(1))
    await watch.check()
    assert [a.key for a in watch.current] == ["cap"] and len(woken) == 1
    await watch.check()
    await watch.check()
    assert watch.stale == "database away" and [a.key for a in watch.current] == ["cap"] and len(woken) == 2
    assert watch.view()["stale"] == "database away"
    assert await watch.check() == []  # back: the same alert, not raised again
    assert watch.stale is None and len(woken) == 3
    await watch.check()
    assert watch.current == [] and watch.raised == {("cap", "red"): 1}


async def test_no_mail_without_addresses_or_a_mailer_and_a_refused_mail_counted() -> None:
    async def refuse(to: str, subject: str, body: str) -> bool:
        return False

    watch = AlertWatch(AlertSettings(mail_to=["sala@example.it"]), Line(at(0, admitted=400)).read, send=refuse)
    await watch.check()
    assert watch.mailed == {"failed": 1}
    quiet = AlertWatch(AlertSettings(), Line(at(0, admitted=400)).read, send=refuse)
    await quiet.check()
    assert quiet.mailed == {} and len(quiet.current) == 1


async def test_the_watch_runs_on_its_own_until_stopped_and_not_at_all_when_off() -> None:
    line = Line(*[at(i / 60, longest_wait_s=100) for i in range(50)])
    watch = AlertWatch(AlertSettings(check_every_s=0.01), line.read)
    watch.start()
    for _ in range(100):
        if watch.current:
            break
        await asyncio.sleep(0.01)
    await watch.stop()
    assert [a.key for a in watch.current] == ["longest_wait"]
    off = AlertWatch(AlertSettings(enabled=False), Line().read)
    off.start()
    await asyncio.sleep(0.02)
    assert off.checked_at is None
    await off.stop()
