"""Bad input on real calls: floods of keys, keys during prompts, digit strings too long, caller
ids that are empty, withheld, huge or strange. Each call keeps a consistent ticket and the line
keeps serving."""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

import pytest

from ivr.app import Engine
from ivr.lab.carrier import LabCall
from ivr.tickets.store import TicketView
from tests.harness.callers import Watcher, after, hang_up_at_beep, run_call
from tests.harness.pbx import PbxPair, running_engine

pytestmark = pytest.mark.asterisk
_numbers = itertools.count(1)


async def _flood_then_choose(call: LabCall, w: Watcher) -> None:
    await w.played("menu_main")
    await call.press("9" * 25, between_ms=40, duration_ms=60)  # a burst of wrong keys
    await w.played("menu_main")  # re-prompted once, not three times
    await asyncio.sleep(0.3)
    await call.press("1")
    await hang_up_at_beep(call, w)


async def _keys_during_welcome(call: LabCall, w: Watcher) -> None:
    await w.playing("welcome")
    await asyncio.sleep(0.8)
    await call.press("2")  # before the menu is offered: not a choice
    await w.played("menu_main")
    await asyncio.sleep(0.3)
    await call.press("3")
    await hang_up_at_beep(call, w)


async def _long_number(call: LabCall, w: Watcher) -> None:
    await w.played("menu_main")
    await call.press("1")
    await w.played("vm_record_instructions", timeout=60)
    await asyncio.sleep(1.0)
    await call.press("#")
    await w.played("vm_callback_enter")
    await call.press("12345678901234567890123456789#", between_ms=60, duration_ms=60)
    await w.played("vm_callback_enter")  # told the number is not valid, and asked again
    await call.press("3337654321#", between_ms=80, duration_ms=80)
    await w.played("vm_callback_confirm")
    await call.press("1")
    await call.wait_ended(timeout=30)


async def test_keys_floods_and_long_numbers(pbx: PbxPair, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = pbx.settings(tmp_path, {"voicemail": {"max_silence_s": 3}})
    caplog.set_level(logging.ERROR, logger="ivr")
    async with running_engine(settings) as engine:
        flood, keys, long = await asyncio.gather(
            run_call(engine, pbx.carrier, f"36{next(_numbers):08d}", _flood_then_choose),
            run_call(engine, pbx.carrier, f"36{next(_numbers):08d}", _keys_during_welcome),
            run_call(engine, pbx.carrier, None, _long_number),  # withheld: the number is typed
        )
        flood_ticket, keys_ticket, long_ticket = flood[0], keys[0], long[0]
        assert [e.kind for e in flood_ticket.events].count("menu_invalid") == 1, [
            (e.at.strftime("%S.%f")[:6], e.kind, e.detail) for e in flood_ticket.events
        ]
        assert flood_ticket.topic == "citizens" and not flood_ticket.open
        assert keys_ticket.topic == "agencies"  # the key pressed during the welcome was not a choice
        assert not any(e.kind == "menu_invalid" for e in keys_ticket.events)
        invalid = [e.detail for e in long_ticket.events if e.kind == "callback_number_invalid"]
        assert len(invalid) == 1 and invalid[0] is not None and len(invalid[0]["entered"]) == 16
        number = next(e.detail for e in long_ticket.events if e.kind == "callback_number")
        assert number == {"source": "typed", "known": True}
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


ODD_CALLERS = {
    # name on the call (unique, to find the ticket) -> (number sent, number expected on the ticket)
    # An empty number: the carrier's Asterisk puts its default user in the From header instead.
    "Vuoto": ("", "asterisk"),
    "Enorme": ("3" * 90, "3" * 64),
    "Strano <script>alert(1)</script> Ñandú 🙂": ("+39 333-12 34", "+39 333-12 34"),
}


async def _listen_a_moment(call: LabCall, w: Watcher) -> None:
    await asyncio.sleep(4.0)  # the welcome has started: the ticket has its caller id
    await call.hangup()


async def _odd_call(engine: Engine, pbx: PbxPair, name: str, number: str) -> None:
    call = await pbx.carrier.call("800000039", caller_number=number, caller_name=name)  # "" is sent as such
    await _listen_a_moment(call, None)  # type: ignore[arg-type]


async def test_odd_caller_ids_keep_their_tickets(pbx: PbxPair, tmp_path: Path) -> None:
    async with running_engine(pbx.settings(tmp_path)) as engine:
        await asyncio.gather(*(_odd_call(engine, pbx, name, sent) for name, (sent, _) in ODD_CALLERS.items()))
        withheld, _ = await run_call(engine, pbx.carrier, None, _listen_a_moment)
        await asyncio.sleep(1.0)
        tickets = {t.caller_name: t for t in await engine.store.recent(20)}
        for name, (_, expected) in ODD_CALLERS.items():
            ticket: TicketView | None = next((t for n, t in tickets.items() if n and n.startswith(name[:6])), None)
            assert ticket is not None, (name, list(tickets))
            assert not ticket.open and ticket.outcome == "caller_hangup", name
            assert ticket.caller_number == expected, (name, ticket.caller_number)
            assert ticket.caller_name is not None and len(ticket.caller_name) <= 128
        assert withheld.caller_number == "anonymous" and not withheld.open
        # The line goes on serving.
        served, _ = await run_call(engine, pbx.carrier, "3600000099", after(("menu_main", "1"), then=hang_up_at_beep))
        assert served.outcome == "voicemail"
