"""Distribution logic and the daily cap without Asterisk: fake phones, real store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.acd.agents import AgentState, AgentTransitionError
from ivr.acd.cap import DailyCap, add_admission
from ivr.acd.config import QueueSettings
from ivr.acd.control import ControlError, second_level_colleague
from ivr.acd.distributor import Distributor, OfferFailed
from ivr.acd.operators import OperatorDirectory, OperatorError, OperatorInfo
from ivr.clock import SystemClock
from ivr.dialout.guard import DIAL_CONTEXT
from ivr.logcontext import bind_call, current_call
from ivr.schema.tickets import DailyAdmissions, Ticket
from ivr.telephony.ports import CallChannel
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.status import QueueResult
from ivr.tickets.store import NewCall, SqlTicketStore
from tests.fakes import FakeChannel

ROME = ZoneInfo("Europe/Rome")


class FakeOfferer:
    """Operators' phones: some answer, some ring out."""

    def __init__(self, answering: set[str]) -> None:
        self.answering = answering
        self.dialled: list[str] = []

    async def dial(
        self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        self.dialled.append(endpoint)
        await asyncio.sleep(0.01)
        login = endpoint.removeprefix("PJSIP/").removeprefix("op-").split("@")[0]
        if login not in self.answering and not endpoint.endswith("@carrier"):
            raise OfferFailed("no_answer")
        return FakeChannel(f"leg-{login}")


def info(
    login: str,
    skills: tuple[str, ...] = (),
    phone: str | None = None,
    softphone: bool = True,
    presence: str = "available",
) -> OperatorInfo:
    return OperatorInfo(
        hash(login) % 1000, login, login, softphone, phone, skills, presence, None, datetime(2026, 1, 1, tzinfo=UTC)
    )


def distributor(answering: set[str], **settings: object) -> tuple[Distributor, FakeOfferer]:
    offerer = FakeOfferer(answering)
    config = QueueSettings.model_validate({"wrap_up_s": 0.05, **settings})
    return Distributor(offerer, config, SystemClock()), offerer


def online(dist: Distributor, *infos: OperatorInfo) -> None:
    dist.sync(list(infos))
    for i in infos:
        dist.phone_registered(i.login, True)


async def test_longest_idle_first_and_one_offer_each() -> None:
    dist, offerer = distributor({"anna", "bruno"})
    online(dist, info("anna"))
    await asyncio.sleep(0.01)
    online(dist, info("anna"), info("bruno"))
    first = dist.enqueue(1, FakeChannel("c1"), None, "333")
    second = dist.enqueue(2, FakeChannel("c2"), None, "334")
    a1, a2 = await asyncio.gather(first.assigned, second.assigned)
    assert (a1.agent.login, a2.agent.login) == ("anna", "bruno")
    assert offerer.dialled == ["PJSIP/op-anna", "PJSIP/op-bruno"]
    assert dist.agents["anna"].state is AgentState.BUSY


async def test_an_offer_is_audited_and_logged_as_the_call_it_offers() -> None:
    """Medium soak run 6: offers started from a queued callback's task (its operator freed)
    inherited that callback's ticket, and the dial audit named ticket 117 for another call."""
    seen: list[tuple[object, object]] = []

    class Witness(FakeOfferer):
        async def dial(
            self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
        ) -> CallChannel:
            tag = current_call()
            seen.append((DIAL_CONTEXT.get(), tag.ticket_id if tag else None))
            return await super().dial(endpoint, caller_id=caller_id, timeout=timeout, cancelled=cancelled)

    dist = Distributor(Witness({"anna"}), QueueSettings.model_validate({"wrap_up_s": 0.05}), SystemClock())
    online(dist, info("anna"))

    async def a_callback_task() -> None:  # what ivr.acd.queued does before freeing its operator
        bind_call("callback-117", 117)
        DIAL_CONTEXT.set({"login": "bruno", "ticket": 117})
        dist.enqueue(5, FakeChannel("c5"), None, "333")

    await asyncio.create_task(a_callback_task())
    await asyncio.sleep(0.05)
    assert seen == [({"login": "anna", "ticket": 5}, 5)]


async def test_skills_route_by_topic() -> None:
    dist, _ = distributor({"anna", "bruno"})
    online(dist, info("anna", skills=("citizens",)), info("bruno", skills=("employers",)))
    call = dist.enqueue(1, FakeChannel("c1"), "employers", "333")
    assert (await call.assigned).agent.login == "bruno"
    assert not dist.staffed("agencies")


async def test_missed_offers_move_on_then_pause() -> None:
    dist, offerer = distributor({"bruno"}, max_missed_offers=1)
    online(dist, info("carla"))
    await asyncio.sleep(0.01)
    online(dist, info("carla"), info("bruno"))
    call = dist.enqueue(1, FakeChannel("c1"), None, "333")
    assert (await call.assigned).agent.login == "bruno"
    assert offerer.dialled == ["PJSIP/op-carla", "PJSIP/op-bruno"]
    assert dist.agents["carla"].state is AgentState.PAUSED
    assert dist.agents["carla"].pause_reason == "missed_offers"


async def test_offers_the_line_itself_refused_pause_nobody_and_are_tried_again() -> None:
    """An Asterisk restart answered every offer with HTTP 503: each operator rung got two
    "missed" offers and was paused, and three queued callbacks then waited for nobody."""
    dist, offerer = distributor({"anna"}, max_missed_offers=1)
    refusals = 3
    answer = offerer.dial

    async def restarting(
        endpoint: str, *, caller_id: str | None, timeout: float, cancelled: asyncio.Event
    ) -> CallChannel:
        nonlocal refusals
        if refusals:
            refusals -= 1
            offerer.dialled.append(endpoint)
            raise OfferFailed("refused:503")
        return await answer(endpoint, caller_id=caller_id, timeout=timeout, cancelled=cancelled)

    offerer.dial = restarting  # type: ignore[method-assign]
    online(dist, info("anna"))
    call = dist.enqueue(1, FakeChannel("c1"), None, "333")
    assigned = await asyncio.wait_for(call.assigned, 10)
    assert assigned.agent.login == "anna" and offerer.dialled.count("PJSIP/op-anna") == 4
    assert dist.agents["anna"].missed == 0 and dist.agents["anna"].pause_reason is None


async def test_wrap_up_then_deferred_pause() -> None:
    dist, _ = distributor({"anna"})
    online(dist, info("anna"))
    call = dist.enqueue(1, FakeChannel("c1"), None, "333")
    agent = (await call.assigned).agent
    await dist.set_presence("anna", "paused", "pranzo")  # asked during the call
    assert agent.state is AgentState.BUSY and agent.deferred is not None
    dist.finished(agent, 60.0)
    assert agent.state is AgentState.WRAP_UP
    await asyncio.sleep(0.1)
    assert agent.state is AgentState.PAUSED and agent.pause_reason == "pranzo"


async def test_unregistered_softphone_pauses_and_comes_back() -> None:
    dist, _ = distributor(set())
    online(dist, info("fabio"), info("ugo", softphone=False, phone="3470000001"))
    dist.phone_registered("fabio", False)
    assert dist.agents["fabio"].state is AgentState.PAUSED
    assert dist.agents["fabio"].pause_reason == "phone_unregistered"
    assert dist.agents["ugo"].reachable  # a home phone needs no registration
    dist.phone_registered("fabio", True)
    assert dist.agents["fabio"].state is AgentState.AVAILABLE
    call = dist.enqueue(1, FakeChannel("c1"), None, "333")
    assert (await call.assigned).leg.id in ("leg-3470000001", "leg-fabio")


async def test_withdrawn_call_is_not_assigned() -> None:
    dist, _ = distributor(set())
    online(dist, info("anna", presence="paused"))
    call = dist.enqueue(1, FakeChannel("c1"), None, "333")
    assert dist.ahead(call) == 0 and dist.estimated_wait_s(call) == 240.0
    dist.withdraw(call)
    assert dist.waiting == []


def test_agent_transitions_are_checked() -> None:
    dist, _ = distributor(set())
    online(dist, info("anna"))
    agent = dist.agents["anna"]
    with pytest.raises(AgentTransitionError):
        agent.move(AgentState.WRAP_UP, 0.0)


# --- the daily cap on both backends ---------------------------------------------------------


async def test_cap_is_exact_under_concurrency(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    store = SqlTicketStore(engine, batch_max=7)  # 60 admissions spread over several batches
    cap = DailyCap(store, 20, ROME)
    moment = datetime(2026, 2, 10, 10, tzinfo=ROME)
    results = await asyncio.gather(*(cap.admit(moment) for _ in range(60)))
    assert results.count(True) == 20
    assert await cap.count(moment) == 20
    await store.stop()
    engine.dispose()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("2026-02-10T22:59:59+00:00", "2026-02-10T23:00:00+00:00"),  # midnight in Rome in winter (UTC+1)
        ("2026-07-10T21:59:59+00:00", "2026-07-10T22:00:00+00:00"),  # and in summer (UTC+2)
        ("2026-03-28T22:59:59+00:00", "2026-03-28T23:00:00+00:00"),  # the night the clocks go forward
    ],
)
async def test_cap_day_turns_at_midnight_in_rome(sqlite_store: SqlTicketStore, before: str, after: str) -> None:
    cap = DailyCap(sqlite_store, 1, ROME)
    assert await cap.admit(datetime.fromisoformat(before))
    assert not await cap.admit(datetime.fromisoformat(before) - timedelta(hours=1))
    assert await cap.admit(datetime.fromisoformat(after))  # a new day in Rome


async def test_operator_directory_rules(sqlite_store: SqlTicketStore) -> None:
    ops = OperatorDirectory(sqlite_store)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    anna, password = await ops.add("anna", "Anna", now=now)
    assert password and anna.softphone and (await ops.digests())["anna"] != password
    with pytest.raises(OperatorError, match="exists already"):
        await ops.add("anna", "Anna", now=now)
    with pytest.raises(OperatorError, match="softphone or an outside number"):
        await ops.add("nessuno", "X", now=now, softphone=False)
    with pytest.raises(OperatorError, match="login"):
        await ops.add("Anna Rossi", "X", now=now)
    with pytest.raises(OperatorError, match="outside number"):
        await ops.add("ugo", "Ugo", now=now, outside_number="347-abc")
    with pytest.raises(OperatorError, match="no operator"):
        await ops.set_presence("nobody", "available", None, now)


async def test_a_refused_operator_write_spares_its_batch(sqlite_store: SqlTicketStore) -> None:
    """Writes of other calls ride in the same batch as an administrator's refused change."""
    ops = OperatorDirectory(sqlite_store)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    await ops.add("anna", "Anna", now=now)
    duplicate, bruno, paused = await asyncio.gather(
        ops.add("anna", "Anna", now=now),
        ops.add("bruno", "Bruno", now=now, softphone=False, outside_number="3470000001"),
        ops.set_presence("anna", "paused", "pranzo", now),
        return_exceptions=True,
    )
    assert isinstance(duplicate, OperatorError)
    assert isinstance(bruno, tuple) and bruno[0].login == "bruno"
    assert isinstance(paused, OperatorInfo) and paused.pause_reason == "pranzo"
    assert [o.login for o in await ops.all()] == ["anna", "bruno"]
    assert (await ops.get("anna")).presence == "paused"


async def test_the_second_level_is_consulted_through_whoever_of_it_is_free_longest() -> None:
    dist, _ = distributor(set())
    online(dist, info("carla", ("citizens",)), info("dario", ("employers", "second_level")))
    await asyncio.sleep(0.01)
    online(
        dist,
        info("carla", ("citizens",)),
        info("dario", ("employers", "second_level")),
        info("elena", ("second_level",)),
        info("fabio", ("second_level",), presence="paused"),
    )
    agents = dist.agents.values()
    assert second_level_colleague(agents, exclude="carla") == "dario"  # free the longest
    assert second_level_colleague(agents, exclude="dario") == "elena"  # never the one asking
    await dist.set_presence("dario", "paused", "Pausa")
    await dist.set_presence("elena", "paused", "Pausa")
    with pytest.raises(ControlError, match="secondo livello"):
        second_level_colleague(dist.agents.values(), exclude="carla")  # paused ones are not free


async def test_admission_marks_its_ticket_in_the_same_write(db_url: str) -> None:
    """The soak's finding: after a kill -9 the cap had counted one call more than the tickets
    queued. The count used to be committed first and the ticket's 'waiting, queued at' posted
    after it, so an engine dying in between left a count with no ticket; now the moment
    `admit` returns both are in the database, for any reader (the standby)."""
    engine = make_engine(db_url)
    upgrade(engine)
    store = SqlTicketStore(engine)
    cap = DailyCap(store, 5, ROME)
    moment = datetime(2026, 2, 10, 10, tzinfo=ROME)
    ticket_id = await store.open_call(NewCall("c-cap", moment, "3331234567", None, "800000039"))
    assert await cap.admit(moment, ticket_id)
    with engine.connect() as conn:  # a reader of its own, not the store's writer
        row = conn.execute(select(Ticket.queue_result, Ticket.queued_at).where(Ticket.id == ticket_id)).one()
        counted = conn.scalar(select(DailyAdmissions.admitted))
    assert (row.queue_result, row.queued_at, counted) == (QueueResult.WAITING, moment, 1)
    await store.stop()
    engine.dispose()


async def test_admission_decided_offline_marks_its_ticket_on_replay(db_url: str) -> None:
    """While the database is away the admission waits in the outbox as one command carrying the
    ticket too, so the replay counts and marks together."""
    engine = make_engine(db_url)
    upgrade(engine)
    store = SqlTicketStore(engine)
    moment = datetime(2026, 2, 10, 10, tzinfo=ROME)
    ticket_id = await store.open_call(NewCall("c-off", moment, "3331234567", None, "800000039"))
    await store.stop()
    with Session(engine) as session, session.begin():  # the outbox's replay of the command
        add_admission(session, day=moment.date(), ticket_id=ticket_id, at=moment)
    with engine.connect() as conn:
        row = conn.execute(select(Ticket.queue_result, Ticket.queued_at).where(Ticket.id == ticket_id)).one()
        counted = conn.scalar(select(DailyAdmissions.admitted))
    assert (row.queue_result, row.queued_at, counted) == (QueueResult.WAITING, moment, 1)
    engine.dispose()


async def test_available_in_wrap_up_drops_the_pause_asked_for_during_the_call() -> None:
    """A pause asked for during a call, then "Disponibile" pressed in the wrap-up: the operator is
    available, and not paused after their next call by the pause they took back."""
    dist = Distributor(FakeOfferer({"anna"}), QueueSettings.model_validate({"wrap_up_s": 60}), SystemClock())
    dist.sync([info("anna")])
    agent = dist.reserve("anna", 1)
    dist.engage(agent)
    await dist.set_presence("anna", "paused", "Pranzo")
    assert agent.deferred == (AgentState.PAUSED, "Pranzo")
    dist.finished(agent, 30.0)
    await dist.set_presence("anna", "available")
    assert (agent.state, agent.deferred) == (AgentState.AVAILABLE, None)
