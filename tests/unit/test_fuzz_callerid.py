"""Caller ids from ARI channel data down to the ticket, on SQLite and PostgreSQL.

The caller's number and name come from the carrier (the network, or whoever sits at the other
end of the trunk): the path from ARI's channel JSON through `AriChannel.caller` to
`SqlTicketStore.open_call` must store whatever arrives safely, and never lose the ticket.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import DataError, StatementError

from ivr.telephony.ari import AriClient
from ivr.telephony.ari_channel import AriChannel
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.store import NewCall, SqlTicketStore
from tests.unit.fuzzing import FUZZ, HUGE

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


async def through_the_channel(store: SqlTicketStore, caller: Any, dialplan: Any = None) -> tuple[int, NewCall]:
    """What the engine does with a new call: channel object from ARI JSON, then the ticket."""
    data: dict[str, Any] = {"id": f"fuzz-{next(_uids)}", "caller": caller, "dialplan": dialplan or {}}
    channel = AriChannel(CLIENT, data)
    CLIENT.unroute(f"channel:{channel.id}")
    c = channel.caller
    call = NewCall(call_uid=channel.id, started_at=T0, caller_number=c.number, caller_name=c.name, did=c.dialed)
    return await store.open_call(call), call


def _text(max_size: int) -> st.SearchStrategy[str]:
    """Text a column of that size holds on both backends: any Unicode but NUL and lone surrogates."""
    safe = st.characters(codec="utf-8", exclude_characters="\x00")
    hostile = st.sampled_from(
        [
            "",
            "'; DROP TABLE tickets; --",
            '" OR 1=1 --',
            "Robert'); DELETE FROM tickets WHERE ('1'='1",
            "%s%(x)s{0}",
            "\x1b[2J\x1b[31m",
            "\r\n\t\x07\x7f",
            "\u202e\ufeff",
            "Ñandú 中文 🙂",
        ]
    )
    return st.one_of(hostile, st.text(safe, max_size=max_size)).map(lambda t: t[:max_size])


NUMBERS = st.one_of(st.none(), _text(64))
NAMES = st.one_of(st.none(), _text(128))


@FUZZ
@given(number=NUMBERS, name=NAMES, exten=st.one_of(st.none(), _text(32)))
async def test_caller_ids_the_columns_hold_are_stored_exactly(
    store: SqlTicketStore, number: str | None, name: str | None, exten: str | None
) -> None:
    ticket_id, call = await through_the_channel(store, {"number": number, "name": name}, {"exten": exten})
    ticket = await store.get(ticket_id)
    assert ticket is not None and ticket.call_uid == call.call_uid
    # an empty caller id is "withheld" (None), as the channel reports it
    assert (ticket.caller_number, ticket.caller_name, ticket.did) == (number or None, name or None, exten or None)
    assert [e.kind for e in ticket.events] == ["call_started"]


# --- what the fuzzing found: strict xfails, so a fix turns them into failures to remove ----

LONG_ON_POSTGRES = pytest.mark.xfail(
    strict=True,
    raises=DataError,
    reason="ivr/tickets/store.py open_call writes caller_number (String(64)), caller_name (128), "
    "did (32) and call_uid (64) unchecked: PostgreSQL refuses a longer value (StringDataRightTruncation) "
    "and the call gets no ticket; nothing truncates it first",
)
LONG_ON_SQLITE = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="ivr/tickets/store.py open_call stores an over-long caller id untruncated on SQLite (which "
    "ignores VARCHAR sizes): 10 kB in a 64-character column",
)


def _per_backend(*marks: tuple[str, pytest.MarkDecorator | None]) -> Any:
    params = [
        pytest.param(b, marks=[*([m] if m else []), *([pytest.mark.postgres] if b == "postgres" else [])])
        for b, m in marks
    ]
    return pytest.mark.parametrize("db_url", params, indirect=True)


@_per_backend(("sqlite", LONG_ON_SQLITE), ("postgres", LONG_ON_POSTGRES))
@pytest.mark.parametrize("field", ["number", "name"])
async def test_a_10_kb_caller_id_is_stored_within_its_column(store: SqlTicketStore, field: str) -> None:
    ticket_id, _call = await through_the_channel(store, {field: HUGE})
    ticket = await store.get(ticket_id)
    assert ticket is not None
    stored = ticket.caller_number if field == "number" else ticket.caller_name
    assert stored is not None and 0 < len(stored) <= (64 if field == "number" else 128)


@_per_backend(
    ("sqlite", None),
    (
        "postgres",
        pytest.mark.xfail(
            strict=True,
            raises=DataError,
            reason="ivr/tickets/store.py open_call passes a NUL character in a caller name to "
            "PostgreSQL, which refuses it in text ('cannot contain NUL (0x00) bytes'): the call gets "
            "no ticket",
        ),
    ),
)
async def test_a_nul_in_a_caller_name_is_stored_or_dropped(store: SqlTicketStore) -> None:
    ticket_id, _call = await through_the_channel(store, {"number": "333", "name": "Ma\x00rio"})
    ticket = await store.get(ticket_id)
    assert ticket is not None and ticket.caller_name in ("Ma\x00rio", "Mario")


@pytest.mark.xfail(
    strict=True,
    raises=(StatementError, AssertionError),
    reason="ivr/telephony/ari_channel.py AriChannel.__init__ takes caller number/name as given (any "
    "JSON type) and ivr/tickets/store.py open_call does not check them: on SQLite a list from ARI "
    "cannot be bound and the call gets no ticket; on PostgreSQL psycopg sends it as an array and "
    "the caller number is stored as '{333,444}'",
)
@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_non_text_caller_number_from_ari(store: SqlTicketStore) -> None:
    ticket_id, _call = await through_the_channel(store, {"number": ["333", "444"], "name": "x"})
    ticket = await store.get(ticket_id)
    assert ticket is not None
    assert ticket.caller_number in (None, "333"), ticket.caller_number


@pytest.mark.xfail(
    strict=True,
    raises=(StatementError, UnicodeEncodeError),
    reason="a lone surrogate (valid in ARI's JSON as \\ud800, not encodable as UTF-8) in a caller "
    "name reaches the database driver, which cannot encode it: the call gets no ticket",
)
@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_lone_surrogate_in_a_caller_name(store: SqlTicketStore) -> None:
    ticket_id, _call = await through_the_channel(store, {"number": "333", "name": "\ud800"})
    assert await store.get(ticket_id) is not None
