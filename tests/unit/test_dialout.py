"""Numbers dialled out: the allow-list, and every place that dials through the carrier obeys it
(operators' home numbers, the console's callback, the caller's callback number) and is audited."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ivr.acd.callbacks import CallbackError, CallbackService
from ivr.acd.distributor import OfferFailed
from ivr.cli import main
from ivr.dialout.config import DialoutSettings
from ivr.dialout.guard import DialGuard, NumberRefused, check
from ivr.schema.console import AuditEntry
from ivr.telephony.ports import CallChannel
from ivr.tickets.store import SqlTicketStore
from ivr.voicemail import messages
from tests.console_support import ConsoleLab, console_lab
from tests.fakes import FakeChannel
from tests.unit.cli_logging import keep_logging

__all__ = ["keep_logging"]
POLICY = DialoutSettings()


@pytest.mark.parametrize(
    ("number", "dialled"),
    [
        ("3471234567", "3471234567"),  # mobile
        ("+393471234567", "3471234567"),
        ("00393471234567", "3471234567"),
        ("0612345678", "0612345678"),  # Rome, geographic
        ("+39061234567", "061234567"),
        (" 0212345678 ", "0212345678"),
    ],
)
def test_italian_geographic_and_mobile_numbers_are_allowed(number: str, dialled: str) -> None:
    assert check(number, POLICY) == dialled


@pytest.mark.parametrize(
    "number",
    [
        "899123456",  # premium
        "892123",
        "+39895123456",
        "0039899123456",  # premium in international form
        "1781234567",
        "199123456",
        "144123456",
        "1661234567",
        "840123456",  # shared cost
        "4121234",  # network service code
        "112",  # short code
        "12345",
        "00441234567890",  # abroad
        "+12125551234",
        "0033123456789",
        "06123",  # too short
        "347123456789012",  # too long
        "347-123",
        "",
    ],
)
def test_premium_service_short_and_foreign_numbers_are_refused(number: str) -> None:
    with pytest.raises(NumberRefused) as refused:
        check(number, POLICY)
    assert "dialout.allowed_prefixes" in str(refused.value)


def test_the_allow_list_is_configurable() -> None:
    swiss = DialoutSettings(allowed_prefixes=["0", "3", "+41"])
    assert check("0041441234567", swiss) == "+41441234567"
    assert check("+41441234567", swiss) == "+41441234567"
    with pytest.raises(NumberRefused):
        check("+33123456789", swiss)
    with pytest.raises(NumberRefused):  # refused prefixes win over allowed ones
        check("899123456", DialoutSettings(allowed_prefixes=["8"]))
    with pytest.raises(ValueError, match="digits only"):
        DialoutSettings(allowed_prefixes=["3x"])


@pytest.fixture
def cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "nul.yaml"
    path.write_text(f"database:\n  url: sqlite:///{tmp_path / 'nul.db'}\nsecrets_file: {tmp_path / 'none.yaml'}\n")
    for name in [n for n in os.environ if n.startswith("IVR_")]:
        monkeypatch.delenv(name)
    return path


def test_cli_refuses_a_premium_outside_number(cli_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-c", str(cli_config), "operator", "add", "x", "--phone", "899123456", "--no-softphone"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "899123456" in err and "premium" in err and "dialout.allowed_prefixes" in err
    assert main(["-c", str(cli_config), "operator", "add", "ugo", "--phone", "+393471234567", "--no-softphone"]) == 0
    assert main(["-c", str(cli_config), "operator", "update", "ugo", "--phone", "00441234567890"]) == 1
    assert "international" in capsys.readouterr().err
    assert main(["-c", str(cli_config), "operator", "list"]) == 0
    listing = capsys.readouterr().out
    assert "3471234567" in listing and "ugo " in listing and "x " not in listing


class Phones:
    """Every leg answers at once."""

    def __init__(self) -> None:
        self.dialled: list[str] = []

    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        self.dialled.append(endpoint)
        return FakeChannel(f"leg-{len(self.dialled)}")


class Talk:
    async def converse(self, caller: CallChannel, operator: CallChannel, *, record_as: str | None) -> Any:
        return type("Talked", (), {"ended_by": "operator", "recording": None})()


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        yield lab


async def test_console_callback_refuses_a_premium_number(lab: ConsoleLab, tmp_path: Path) -> None:
    message = await lab.voicemail("899123456", assigned_to="anna")
    ticket = await lab.deps.store.run_read(lambda s: messages.ticket_of(s, message))
    await lab.deps.distributor.set_presence("anna", "available")
    anna = await lab.login("anna")
    token = await lab.csrf(anna, "/console/desk")
    response = await anna.post(f"/console/desk/callbacks/{ticket}/call", data={"_csrf": token}, allow_redirects=False)
    assert response.status == 409
    assert "899123456 non può essere chiamato" in await response.text()
    assert lab.deps.console.callbacks.current("anna") is None


async def test_console_callback_audits_the_number_it_dials(lab: ConsoleLab, tmp_path: Path) -> None:
    deps = lab.deps
    message = await lab.voicemail("+393336660001", assigned_to="anna")
    ticket = await deps.store.run_read(lambda s: messages.ticket_of(s, message))
    await deps.distributor.set_presence("anna", "available")
    phones = Phones()
    service = CallbackService(phones, Talk(), deps.distributor, deps.store, lab.clock, ring_timeout_s=5)
    with pytest.raises(CallbackError, match="non può essere chiamato"):
        await service.start("anna", ticket, "1661234567")
    call = await service.start("anna", ticket, "+393336660001")
    assert call.task is not None
    await asyncio.wait_for(call.task, 5)
    assert phones.dialled == ["PJSIP/3470000001@carrier", "PJSIP/3336660001@carrier"]
    entries = await deps.store.run_read(
        lambda s: [(e.action, e.object_id, (e.detail or {}).get("purpose"), e.login) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.object_kind == "number").order_by(AuditEntry.id)
        )]
    )  # fmt: skip
    assert entries == [("dial_out", "3470000001", "callback", "anna"), ("dial_out", "3336660001", "callback", "anna")]


async def test_a_refused_outside_number_is_never_rung(sqlite_store: SqlTicketStore) -> None:
    """The last guard, before Asterisk: a number stored before the allow-list existed."""
    phones = Phones()
    audited: list[tuple[str, str]] = []

    async def audit(action: str, number: str, detail: dict[str, Any]) -> None:
        audited.append((action, number))

    guard = DialGuard(phones, POLICY, audit, purpose="queue")
    with pytest.raises(OfferFailed, match="number_refused"):
        await guard.dial("PJSIP/899123456@carrier", caller_id=None, timeout=5, cancelled=asyncio.Event())
    await guard.dial("PJSIP/op-anna", caller_id=None, timeout=5, cancelled=asyncio.Event())  # a softphone
    await guard.dial("PJSIP/+393471234567@carrier", caller_id=None, timeout=5, cancelled=asyncio.Event())
    assert phones.dialled == ["PJSIP/op-anna", "PJSIP/3471234567@carrier"]
    assert audited == [("dial_refused", "899123456"), ("dial_out", "3471234567")]
