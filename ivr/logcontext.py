"""Which call a log line belongs to, without passing it down every function.

The call's task sets the context once (call id, ticket id, the caller's number); every task it
starts inherits it, so each line written while serving the call carries the call and ticket ids,
and the log filter knows which number to mask.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class CallTag:
    call_id: str
    ticket_id: int | None = None
    caller: str | None = None


_CALL: ContextVar[CallTag | None] = ContextVar("ivr_call", default=None)


def bind_call(call_id: str, ticket_id: int | None = None, caller: str | None = None) -> None:
    """From here on, in this task and the tasks it starts, log lines belong to this call."""
    _CALL.set(CallTag(call_id, ticket_id, caller))


def current_call() -> CallTag | None:
    return _CALL.get()


# Phone numbers as callers and callback numbers appear: an optional + or 00 and country code,
# then an Italian geographic (0...) or mobile (3...) number. Channel ids (epoch seconds, "17...")
# and small counters do not match.
PHONE = re.compile(r"(?<![\w.])(?:\+|00)?(?:39)?[03]\d{5,11}(?![\w.])")


def mask_number(number: str) -> str:
    """Keep the last two digits, so two lines about the same caller can still be matched."""
    digits = re.sub(r"\D", "", number)
    return "***" + digits[-2:] if len(digits) > 2 else "***"


class CallFields(logging.Filter):
    """Adds `call_id` and `ticket_id` to every record ("-" outside a call) and, unless personal
    data may be logged, masks the caller's number and anything that looks like a phone number."""

    def __init__(self, personal_data: bool = False) -> None:
        super().__init__()
        self.personal_data = personal_data

    def filter(self, record: logging.LogRecord) -> bool:
        tag = _CALL.get()
        record.call_id = tag.call_id if tag else "-"
        record.ticket_id = str(tag.ticket_id) if tag and tag.ticket_id else "-"
        if self.personal_data:
            return True
        message = record.getMessage()
        masked = message
        if tag is not None and tag.caller and len(tag.caller) >= 3:
            masked = masked.replace(tag.caller, mask_number(tag.caller))
        masked = PHONE.sub(lambda m: mask_number(m.group(0)), masked)
        if masked != message:
            record.msg, record.args = masked, None
        return True
