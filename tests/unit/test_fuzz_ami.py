"""Malformed AMI traffic, fed to the real AMI monitor, its parser and the operator sync.

AMI tells the engine when an operator's softphone registers or goes away (ContactStatus), and
the distributor pauses or resumes the operator on it. Whatever Asterisk (or something posing as
it) sends, nothing may raise out of the handlers, no operator may change because of an event
about someone else, and a well-formed event afterwards must still take effect.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from panoramisk.message import Message

from ivr.acd.agents import Agent, AgentState
from ivr.acd.config import QueueSettings
from ivr.acd.distributor import Distributor, OfferFailed
from ivr.acd.operators import OperatorDirectory, OperatorInfo
from ivr.acd.sync import OperatorSync
from ivr.clock import SystemClock
from ivr.telephony.ami import AmiMonitor, GuardedProtocol
from ivr.telephony.ari import AriClient
from ivr.telephony.ari_resources import AriPbxAdmin
from ivr.telephony.ports import CallChannel
from ivr.tickets.db import make_engine
from ivr.tickets.store import SqlTicketStore
from tests.unit.fuzzing import FUZZ, HUGE, TEXT

LOGINS = ("anna", "bruno", "carla")
EVENTS = st.one_of(
    st.sampled_from(["ContactStatus", "DeviceStateChange", "PeerStatus", "EndpointDetail", "FullyBooted", "Hangup"]),
    TEXT,
)
KEYS = st.one_of(
    st.sampled_from(["AOR", "ContactStatus", "EndpointName", "URI", "Device", "State", "ActionID", "aor"]),
    st.text(max_size=12),
)
VALUES = st.one_of(
    st.sampled_from(
        [
            "op-anna",
            "op-bruno",
            "op-",
            "op-nobody",
            "anna",
            "Reachable",
            "Unreachable",
            "Removed",
            "Created",
            "NonQualified",
            "Updated",
            "",
        ]
    ),
    st.builds(lambda: HUGE),
    TEXT,
)


class NoPhones:
    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        raise OfferFailed("no_answer")


class Wire:
    """The socket under panoramisk's protocol: what the engine writes goes nowhere."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


@dataclass
class Desk:
    monitor: AmiMonitor
    distributor: Distributor
    protocol: GuardedProtocol


def _info(login: str, phone: str | None = None) -> OperatorInfo:
    return OperatorInfo(1, login, login, True, phone, (), "available", None, datetime(2026, 1, 1, tzinfo=UTC))


def make_desk(tmp: Path) -> Desk:
    monitor = AmiMonitor("127.0.0.1", 1, "nul", "not-used")
    manager = monitor._manager
    manager.loop = asyncio.get_running_loop()
    distributor = Distributor(NoPhones(), QueueSettings(), SystemClock())
    OperatorSync(
        OperatorDirectory(SqlTicketStore(make_engine("sqlite://"))),  # never read: operators come from sync()
        distributor,
        AriPbxAdmin(AriClient("http://127.0.0.1:1", "nul", "u", "p")),
        monitor,
        tmp / "pjsip_operators.conf",
        ["alaw"],
    )
    distributor.sync([_info("anna"), _info("bruno", phone="+39061234567"), _info("carla")])
    for login in LOGINS:
        distributor.phone_registered(login, True)
    distributor.phone_registered("carla", False)  # carla's phone is away: paused for it
    protocol = GuardedProtocol()  # the protocol the monitor's Manager builds
    protocol.connection_made(Wire())
    # what panoramisk's Manager.connection_made sets up on a fresh connection
    protocol.factory, protocol.log, protocol.config = manager, manager.log, manager.config
    protocol.encoding = manager.encoding = manager.config["encoding"]
    manager.protocol = protocol
    return Desk(monitor, distributor, protocol)


def state(agent: Agent) -> tuple[Any, ...]:
    return agent.state, agent.registered, agent.pause_reason


def check_sane(desk: Desk, before: dict[str, tuple[Any, ...]], text: str) -> None:
    for login, agent in desk.distributor.agents.items():
        assert isinstance(agent.state, AgentState) and isinstance(agent.registered, bool)
        if f"op-{login}" not in text:  # nothing said about them: nothing changed for them
            assert state(agent) == before[login], f"{login} changed by {text[:300]!r}"
    assert set(desk.distributor.agents) == set(LOGINS)


def still_listens(desk: Desk) -> None:
    """A well-formed registration change after the junk is still acted on."""
    desk.protocol.data_received(b"Event: ContactStatus\r\nAOR: op-anna\r\nContactStatus: Removed\r\n\r\n")
    anna = desk.distributor.agents["anna"]
    assert not anna.registered and anna.state is AgentState.PAUSED and anna.pause_reason == "phone_unregistered"
    desk.protocol.data_received(b"Event: ContactStatus\r\nAOR: op-anna\r\nContactStatus: Reachable\r\n\r\n")
    assert anna.registered and anna.state is AgentState.AVAILABLE


headers = st.dictionaries(KEYS, VALUES, max_size=5).flatmap(
    lambda rest: st.one_of(st.just(rest), EVENTS.map(lambda e: {"Event": e, **rest}))
)


@FUZZ
@given(batch=st.lists(headers, max_size=8))
def test_event_handlers_take_any_fields(batch: list[dict[str, str]], tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = make_desk(tmp_path)
        before = {login: state(a) for login, a in desk.distributor.agents.items()}
        for fields in batch:
            if "Event" in fields:  # panoramisk only builds messages with an Event or a Response
                desk.monitor._manager.dispatch(Message(fields))
        check_sane(desk, before, repr(batch))
        still_listens(desk)

    asyncio.run(scenario())


def _line(key: str, value: str) -> str:
    return f"{key}: {value}"


@st.composite
def streams(draw: st.DrawFn) -> list[bytes]:
    """A byte stream of AMI messages, some well-formed, some not, cut into arbitrary chunks."""
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 6))):
        fields = draw(headers)
        lines = [_line(k, v) for k, v in fields.items()]
        if draw(st.booleans()):  # one more line, at times a header given twice (ActionID too)
            key = draw(st.one_of(KEYS, st.sampled_from(["Event", "Response", "CommandID"])))
            lines.append(_line(key, draw(VALUES)))
        # mostly well-terminated: a missing end merges two messages, and two Event lines again
        end = draw(st.sampled_from(["\r\n\r\n"] * 5 + ["\r\n", "\n\n", ""]))
        parts.append(("\r\n".join(lines) + end).encode("utf-8", "surrogatepass"))
        if draw(st.booleans()):
            parts.append(draw(st.binary(max_size=40)))
    stream = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    chunks, last = [], 0
    for cut in [*cuts, len(stream)]:
        chunks.append(stream[last:cut])
        last = cut
    return [c for c in chunks if c] + [b"\r\n\r\n"]  # close whatever message was left open


@FUZZ
@given(chunks=streams())
def test_the_parser_and_handlers_take_any_bytes(chunks: list[bytes], tmp_path: Path) -> None:
    async def scenario() -> None:
        desk = make_desk(tmp_path)
        before = {login: state(a) for login, a in desk.distributor.agents.items()}
        for chunk in chunks:
            desk.protocol.data_received(chunk)
        check_sane(desk, before, b"".join(chunks).decode("ascii", "ignore"))
        still_listens(desk)

    asyncio.run(scenario())


@pytest.mark.parametrize("key", ["Event", "ActionID", "Response", "CommandID"])
def test_a_message_repeating_a_routing_header_is_dropped_alone(tmp_path: Path, key: str) -> None:
    """panoramisk reads a repeated header as a list, which its routing cannot take: the message
    is dropped, the connection stays, and the next event is acted on."""

    async def scenario() -> None:
        desk = make_desk(tmp_path)
        before = {login: state(a) for login, a in desk.distributor.agents.items()}
        message = f"Event: ContactStatus\r\n{key}: a\r\n{key}: b\r\nAOR: op-anna\r\nContactStatus: Removed\r\n\r\n"
        desk.protocol.data_received(message.encode())
        assert {login: state(a) for login, a in desk.distributor.agents.items()} == before
        still_listens(desk)

    asyncio.run(scenario())
