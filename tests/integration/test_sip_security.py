"""The engine's Asterisk as an attacker meets it: a forged trunk call from another address, the
process's privileges, and what its AMI account may do."""

from __future__ import annotations

import asyncio
import secrets
import socket
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr.asterisk.root import host_ids
from ivr.schema.tickets import Ticket
from ivr.telephony.ami import AmiMonitor
from ivr.telephony.errors import AmiError
from ivr.tickets.db import make_engine
from tests.harness.pbx import CARRIER_HOST, PbxPair, running_engine
from tests.harness.softphone import Softphone
from tests.harness.voices import Voices

pytestmark = pytest.mark.asterisk
INTRUDER = "127.0.0.5"  # a loopback address that is not the carrier's


def _invite(target: tuple[str, int], source: tuple[str, int], call_id: str, did: str) -> bytes:
    """An INVITE claiming to be the carrier trunk, with a caller id of the intruder's choosing."""
    host, port = target
    me, my_port = source
    sdp = (
        "v=0\r\n"
        f"o=- 1 1 IN IP4 {me}\r\n"
        "s=-\r\n"
        f"c=IN IP4 {me}\r\n"
        "t=0 0\r\n"
        f"m=audio {my_port + 2} RTP/AVP 8 0\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
    )
    headers = [
        f"INVITE sip:{did}@{host}:{port} SIP/2.0",
        f"Via: SIP/2.0/UDP {me}:{my_port};branch=z9hG4bK{call_id[:16]};rport",
        "Max-Forwards: 70",
        f"From: <sip:carrier@{CARRIER_HOST}>;tag=forged",
        f"To: <sip:{did}@{host}:{port}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 INVITE",
        f"Contact: <sip:carrier@{me}:{my_port}>",
        "P-Asserted-Identity: <sip:3330000666@carrier.example>",
        "Content-Type: application/sdp",
        f"Content-Length: {len(sdp)}",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + sdp).encode()


def _final_response(sock: socket.socket, call_id: str, timeout: float) -> tuple[int, str]:
    """The first final (>= 200) response to our INVITE: (status code, whole message)."""
    sock.settimeout(timeout)
    while True:
        data = sock.recv(65535).decode(errors="replace")
        if call_id not in data or not data.startswith("SIP/2.0 "):
            continue
        code = int(data.split()[1])
        if code >= 200:
            return code, data


def _hang_up(sock: socket.socket, target: tuple[str, int], response: str, call_id: str) -> None:
    """The forged call was answered: acknowledge and end it so it does not linger."""
    lines = response.split("\r\n")
    to = next(line for line in lines if line.lower().startswith("to:"))
    me, my_port = sock.getsockname()
    host, port = target
    for method, cseq in (("ACK", "1 ACK"), ("BYE", "2 BYE")):
        msg = [
            f"{method} sip:{host}:{port} SIP/2.0",
            f"Via: SIP/2.0/UDP {me}:{my_port};branch=z9hG4bK{secrets.token_hex(8)};rport",
            "Max-Forwards: 70",
            f"From: <sip:carrier@{CARRIER_HOST}>;tag=forged",
            to,
            f"Call-ID: {call_id}",
            f"CSeq: {cseq}",
            "Content-Length: 0",
        ]
        sock.sendto(("\r\n".join(msg) + "\r\n\r\n").encode(), target)


async def test_forged_trunk_call_from_another_address_is_refused(pbx: PbxPair, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'tickets.db'}"
    settings = pbx.settings(tmp_path, {"database": {"url": db_url}})
    target = pbx.engine_ports.sip
    call_id = f"{secrets.token_hex(12)}@{INTRUDER}"
    async with running_engine(settings):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((INTRUDER, 0))
            sock.sendto(_invite(target, sock.getsockname(), call_id, settings.service.did), target)
            code, response = await asyncio.to_thread(_final_response, sock, call_id, 20.0)
            if code == 200:
                _hang_up(sock, target, response, call_id)
    assert code in (401, 403), f"forged trunk INVITE from {INTRUDER} got {code}, not a refusal"
    db = make_engine(db_url)
    with db.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Ticket)) == 0
    db.dispose()


def test_engine_asterisk_does_not_run_as_root(pbx: PbxPair) -> None:
    pid = pbx.engine_asterisk.pid()
    assert pid is not None
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["Name"].strip() == "asterisk"
    uids = [int(v) for v in fields["Uid"].split()]
    gids = [int(v) for v in fields["Gid"].split()]
    assert 0 not in uids, f"engine Asterisk runs with uids {uids}"
    assert 0 not in gids, f"engine Asterisk runs with gids {gids}"
    # Nobody else on this machine shares its uid (a compromised Asterisk could signal them).
    host_users, host_groups = host_ids()
    assert uids[0] not in host_users and gids[0] not in host_groups


async def test_engine_ami_account_cannot_run_cli_commands(pbx: PbxPair, tmp_path: Path) -> None:
    settings = pbx.settings(tmp_path)
    a = settings.asterisk
    assert a.ami.password is not None
    ami = AmiMonitor(a.host, a.ami.port, a.ami.username, a.ami.password.get_secret_value())
    await ami.start()
    try:
        await ami.wait_logged_in(10)
        assert await ami.alive()
        with pytest.raises(AmiError, match=r"[Pp]ermission denied"):
            await ami.action({"Action": "Command", "Command": "core show version"})
    finally:
        await ami.stop()


async def test_operator_phones_work_with_the_reduced_rights(pbx: PbxPair, tmp_path: Path, voices: Voices) -> None:
    """What the engine needs from Asterisk still works: a new operator's endpoint is written
    and PJSIP reloaded, and the AMI account still gets the phone's registration event."""
    async with running_engine(pbx.settings(tmp_path)) as engine:
        login = f"sec{secrets.token_hex(3)}"
        _, password = await engine.operators.add(login, "Sicurezza", now=engine.clock.now(), softphone=True)
        assert password is not None
        reloads = engine.operator_sync.reloads
        await engine.operator_sync.run_once()
        assert engine.operator_sync.reloads == reloads + 1
        endpoint = await engine.ari.get(f"endpoints/PJSIP/op-{login}")
        assert endpoint["resource"] == f"op-{login}"

        a = engine.settings.asterisk
        assert a.ami.password is not None
        ami = AmiMonitor(a.host, a.ami.port, a.ami.username, a.ami.password.get_secret_value())
        seen: asyncio.Queue[str] = asyncio.Queue()
        ami.on_event("ContactStatus", lambda event: seen.put_nowait(str(event.get("AOR"))))
        await ami.start()
        phone = Softphone(login, password, (a.sip.bind, a.sip.port), voices.operator_padded)
        try:
            await ami.wait_logged_in(10)
            await phone.start()
            assert await asyncio.wait_for(_first(seen, f"op-{login}"), 15) == f"op-{login}"
        finally:
            await phone.stop()
            phone.cleanup()
            await ami.stop()


async def _first(queue: asyncio.Queue[str], wanted: str) -> str:
    while (item := await queue.get()) != wanted:
        pass
    return item
