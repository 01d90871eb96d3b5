"""Callers' numbers never in full where nobody needs to dial them: every way a number is written
is masked in log lines (message, arguments, exceptions) by the one rule, what is not a number
(ids, times, dates, addresses, channel ids) stays readable, and the dial-out refusals, which log
exactly the numbers the line will not call, show none of them."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from pathlib import Path

import pytest

from ivr.acd.missed import mask
from ivr.acd.offers import OfferFailed
from ivr.dialout.config import DialoutSettings
from ivr.dialout.guard import DialGuard
from ivr.logcontext import CallFields, bind_call, mask_number
from ivr.logsetup import CallFormatter, JsonFormatter, setup_logging
from tests.unit.cli_logging import keep_logging
from tests.unit.test_dialout import Phones
from tests.unit.test_ops import settings_for

__all__ = ["keep_logging"]

# (as written, its last three digits)
NUMBERS = [
    ("+393471234567", "567"),  # E.164, Italian mobile
    ("+39 347 123 4567", "567"),
    ("0039 347 1234567", "567"),
    ("00393471234567", "567"),
    ("3471234567", "567"),  # national mobile
    ("347.123.4567", "567"),
    ("347-123-4567", "567"),
    ("0612345678", "678"),  # national geographic
    ("06 1234 5678", "678"),
    ("(06) 1234-5678", "678"),
    ("06.12.34.56.78", "678"),
    ("+39 (06) 1234 5678", "678"),
    ("+44 20 7946 0958", "958"),  # foreign
    ("+442079460958", "958"),
    ("0044 20 7946 0958", "958"),
    ("00441234567890", "890"),
    ("+1 (212) 555-1234", "234"),
    ("+12125551234", "234"),
    ("0033 1 23 45 67 89", "789"),
    ("899123456", "456"),  # premium: refused by the dial-out rules, logged when refused
    ("892123", "123"),
    ("+39 899 123 456", "456"),
    ("0039899123456", "456"),
    ("840123456", "456"),  # shared cost
    ("1781234567", "567"),  # 1xx
    ("199 123 456", "456"),
    ("144123456", "456"),
    ("1661234567", "567"),
    ("4121234", "234"),  # network service code
    ("PJSIP/3471234567@carrier", "567"),  # in a dial string
    ("sip:+393471234567@203.0.113.9", "567"),
]

# Lines with digits that are not phone numbers, as the engine writes them: unchanged.
NOT_NUMBERS = [
    "ticket 123 closed",
    "ticket 1234567: callback not queued, database unavailable",
    "voicemail 1234567 transcribed: 42 words",
    "queued callback of ticket 98765 failed",
    "2026-02-10T10:00:00+01:00 open data written",
    "2026-02-10 10:00:00,123 INFO started",
    "open data for 2026-02-10 written: 3 files",
    "period 2026-02-01..2026-02-28",
    "call 1740000000.7 arrived before the engine was ready; hanging up",
    "adopting channel 1740000123.45 found in the app after (re)connecting",
    "channel PJSIP/carrier-00000001 up",
    "listening on 127.0.0.1:8081",
    "peer 203.0.113.9:5060, ::1 port 50603",
    "lease 'line' taken (token 12): this engine is active",
    "ARI sent a frame that is not JSON (1048576 bytes); ignored",
    "took 0.123456 s",
    "version 0.2.0, asterisk 22.5.2",
    "request 3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    "daily cap counted without the database: 400 today",
    "stopping: 3 calls in progress",
]


def _filtered(message: str, *args: object) -> str:
    """The message as the log filter leaves it."""
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, args or None, None)
    CallFields().filter(record)
    return record.getMessage()


def _digit_runs(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.mark.parametrize(("number", "last"), NUMBERS)
def test_every_form_of_a_number_is_masked_to_its_last_three_digits(number: str, last: str) -> None:
    line = _filtered("dial-out to %s refused (queue): premium or shared-cost number", number)
    assert f"***{last}" in line, line
    national = _digit_runs(number.split("@")[0])[-9:]
    assert national not in _digit_runs(line), line  # no run of the number's digits is left
    assert _filtered(f"call from {number}, ringing") == f"call from {_filtered(number)}, ringing"


@pytest.mark.parametrize(("number", "last"), [(n, last) for n, last in NUMBERS if "/" not in n and ":" not in n])
def test_one_function_masks_for_logs_and_lists(number: str, last: str) -> None:
    assert mask_number(number) == mask(number) == f"***{last}"


def test_nothing_to_show_and_short_codes() -> None:
    assert mask(None) == mask("") == "nascosto"  # a withheld caller id, in the lists' words
    assert mask_number("anonymous") == "***"
    assert mask_number("112") == "***"  # too short to be anyone's number: nothing shown


@pytest.mark.parametrize("line", NOT_NUMBERS)
def test_ids_times_dates_addresses_and_sizes_are_not_masked(line: str) -> None:
    assert _filtered(line) == line


def test_numbers_beside_other_figures_are_still_masked() -> None:
    line = _filtered("call 1740000000.7 at 2026-02-10 10:00:00 from %s %s", "3471234567", "+44 20 7946 0958")
    assert line == "call 1740000000.7 at 2026-02-10 10:00:00 from ***567 ***958"


# --- the dial-out refusals through the engine's own logging ----------------------------------

REFUSED = ["899123456", "+39895123456", "0039899123456", "1781234567", "144123456", "4121234", "00441234567890",
           "+12125551234", "+442079460958"]  # fmt: skip


async def _refuse_all(guard: DialGuard) -> None:
    for number in REFUSED:
        with pytest.raises(OfferFailed):
            await guard.dial(f"PJSIP/{number}@carrier", caller_id=None, timeout=5, cancelled=asyncio.Event())


def _assert_no_number(text: str) -> None:
    for number in REFUSED:
        assert _digit_runs(number)[-7:] not in _digit_runs(text), (number, text)
        assert f"***{number[-3:]}" in text


def test_dial_out_refusals_log_no_full_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The engine's log setup (`ivr run`) writes the refusals of the real guard masked; the
    same filter on pytest's capture sees the same."""
    setup_logging("INFO", settings_for(tmp_path))  # replaces the root's handlers: pytest's goes back
    logging.getLogger().addHandler(caplog.handler)
    caplog.handler.addFilter(CallFields())
    audited: list[str] = []

    async def audit(action: str, number: str, detail: dict[str, object]) -> None:
        audited.append(number)  # the audit keeps the full number: it is the record of what was refused

    guard = DialGuard(Phones(), DialoutSettings(), audit, purpose="callback")
    asyncio.run(_refuse_all(guard))
    logged = capsys.readouterr().err
    assert logged.count("refused (callback)") == len(REFUSED)
    _assert_no_number(logged)
    _assert_no_number(caplog.text)
    assert audited == REFUSED


async def _failing_callback(logger: logging.Logger) -> None:
    bind_call("1740000000.7", 42, "+393471234567")
    try:
        raise ValueError("number '+44 20 7946 0958' may not be dialled out")
    except ValueError:
        logger.exception("callback of ticket %s to %s failed", 42, "899123456")


def test_exceptions_and_json_lines_are_masked() -> None:
    logger = logging.getLogger("test.masking")
    for formatter in (CallFormatter(), JsonFormatter()):
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter)
        handler.addFilter(CallFields())
        logger.addHandler(handler)
        try:
            asyncio.run(_failing_callback(logger))
        finally:
            logger.removeHandler(handler)
        text = out.getvalue()
        assert "7946" not in text and "899123456" not in text, text
        assert "***958" in text and "***456" in text
        if isinstance(formatter, JsonFormatter):
            record = json.loads(text)
            assert "***958" in record["exception"] and record["ticket_id"] == 42
