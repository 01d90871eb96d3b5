"""Caller ids from ARI channel data down to the ticket, on SQLite and PostgreSQL.

The caller's number and name come from the carrier (the network, or whoever sits at the other
end of the trunk): the path from ARI's channel JSON through `AriChannel.caller` to
`SqlTicketStore.open_call` must store whatever arrives safely (printable, within the column) and
never lose the ticket; a caller id that is already clean is stored exactly as it came.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from ivr.telephony.ari import AriClient
from ivr.telephony.ari_channel import AriChannel
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import NewCall, SqlTicketStore
from tests.unit.fuzzing import FUZZ, HUGE, JSON, TEXT

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
_uids = itertools.count()
CLIENT = AriClient("http://127.0.0.1:1", "nul", "u", "p")  # only routes events; never connects


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlTicketStore]:
    engine = make_engine(db_url)
    upgrade(engine)
    s = SqlTicketStore(engine)
    await s.start()
    yield s
    await s.stop()
    engine.dispose()


async def through_the_channel(
    store: SqlTicketStore, caller: Any, dialplan: Any = None, channel_id: str | None = None
) -> tuple[int, NewCall]:
    """What the engine does with a new call: channel object from ARI JSON, then the ticket."""
    uid = channel_id or f"fuzz-{next(_uids)}"
    data: dict[str, Any] = {"id": uid, "caller": caller, "dialplan": dialplan or {}}
    channel = AriChannel(CLIENT, data)
    CLIENT.unroute(f"channel:{channel.id}")
    c = channel.caller
    call = NewCall(call_uid=channel.id, started_at=T0, caller_number=c.number, caller_name=c.name, did=c.dialed)
    return await store.open_call(call), call


CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What ARI may hand over as a caller's number, name or the dialled extension: text of any kind
# and size (NUL, escapes, lone surrogates, 10 kB), and any other JSON value.
ANY = st.one_of(st.none(), TEXT, st.builds(lambda: HUGE), JSON)


def _clean_already(value: Any, limit: int) -> bool:
    """Text that needs no cleaning: it must come back exactly."""
    if not isinstance(value, str) or not value or len(value) > limit or value != value.strip():
        return False
    if CONTROL.search(value):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fits(stored: str | None, limit: int) -> None:
    if stored is None:
        return
    assert isinstance(stored, str) and 0 < len(stored) <= limit, stored
    assert not CONTROL.search(stored), repr(stored)
    stored.encode("utf-8")  # no lone surrogate reached the database


@FUZZ
@given(number=ANY, name=ANY, exten=ANY)
async def test_any_caller_id_is_stored_clean_and_within_its_column(
    store: SqlTicketStore, number: Any, name: Any, exten: Any
) -> None:
    ticket_id, call = await through_the_channel(store, {"number": number, "name": name}, {"exten": exten})
    ticket = await store.get(ticket_id)
    assert ticket is not None and ticket.call_uid == call.call_uid
    assert [e.kind for e in ticket.events] == ["call_started"]
    for given_value, stored, limit in (
        (number, ticket.caller_number, 64),
        (name, ticket.caller_name, 128),
        (exten, ticket.did, 32),
    ):
        _fits(stored, limit)
        if _clean_already(given_value, limit):
            assert stored == given_value
        event(f"{'exact' if _clean_already(given_value, limit) else 'cleaned'} {type(given_value).__name__}")


SQL_LOOKING = [
    "'; DROP TABLE tickets; --",
    '" OR 1=1 --',
    "Robert'); DELETE FROM tickets WHERE ('1'='1",
    "%s%(x)s{0}",
    "Ñandú 中文 🙂",
]


@pytest.mark.parametrize("text", SQL_LOOKING)
async def test_sql_looking_and_unicode_caller_ids_are_kept_verbatim(store: SqlTicketStore, text: str) -> None:
    ticket_id, _call = await through_the_channel(store, {"number": text, "name": text})
    ticket = await store.get(ticket_id)
    assert ticket is not None and (ticket.caller_number, ticket.caller_name) == (text, text)
    assert len(await store.recent(1000)) >= 1  # the table is still there


@pytest.mark.parametrize(("field", "limit"), [("number", 64), ("name", 128)])
async def test_a_10_kb_caller_id_is_cut_to_its_column(store: SqlTicketStore, field: str, limit: int) -> None:
    ticket_id, _call = await through_the_channel(store, {field: HUGE})
    ticket = await store.get(ticket_id)
    assert ticket is not None
    stored = ticket.caller_number if field == "number" else ticket.caller_name
    assert stored == HUGE[:limit]


async def test_control_characters_nul_and_lone_surrogates_are_cleaned(store: SqlTicketStore) -> None:
    caller = {"number": " 333\x00123\x1b[2J ", "name": "Ma\x00rio \ud800Rossi\x07"}
    ticket_id, _call = await through_the_channel(store, caller)
    ticket = await store.get(ticket_id)
    assert ticket is not None
    assert ticket.caller_number == "333123[2J"
    assert ticket.caller_name is not None and ticket.caller_name.startswith("Mario ")
    assert ticket.caller_name.endswith("Rossi") and "\ud800" not in ticket.caller_name


async def test_a_non_text_caller_id_from_ari_is_withheld_or_its_digits(store: SqlTicketStore) -> None:
    ticket_id, _call = await through_the_channel(store, {"number": ["333", "444"], "name": {"x": 1}})
    ticket = await store.get(ticket_id)
    assert ticket is not None and (ticket.caller_number, ticket.caller_name) == (None, None)
    ticket_id, _call = await through_the_channel(store, {"number": 3331234567, "name": True})
    ticket = await store.get(ticket_id)
    assert ticket is not None and (ticket.caller_number, ticket.caller_name) == ("3331234567", None)


async def test_an_over_long_channel_id_still_gets_its_ticket(store: SqlTicketStore) -> None:
    ticket_id, call = await through_the_channel(store, {"number": "333"}, channel_id="c" * 300)
    ticket = await store.get(ticket_id)
    assert ticket is not None and ticket.call_uid == call.call_uid[:64]
