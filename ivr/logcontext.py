"""Which call a log line belongs to, without passing it down every function.

The call's task sets the context once (call id, ticket id, the caller's number); every task it
starts inherits it, so each line written while serving the call carries the call and ticket ids,
and the log filter knows which number to mask.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass

from ivr.phonemask import PHONE, mask_number, mask_text

__all__ = ["PHONE", "CallFields", "CallTag", "bind_call", "current_call", "mask_number", "mask_text"]


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


class CallFields(logging.Filter):
    """Adds `call_id` and `ticket_id` to every record ("-" outside a call) and, unless personal
    data may be logged, masks the caller's number and any phone number in the message, its
    arguments (the message is formatted first), the exception's text and the stack."""

    def __init__(self, personal_data: bool = False) -> None:
        super().__init__()
        self.personal_data = personal_data

    def filter(self, record: logging.LogRecord) -> bool:
        tag = _CALL.get()
        record.call_id = tag.call_id if tag else "-"
        record.ticket_id = str(tag.ticket_id) if tag and tag.ticket_id else "-"
        if self.personal_data:
            return True
        caller = tag.caller if tag is not None and tag.caller and len(tag.caller) >= 3 else None
        message = record.getMessage()
        masked = _masked(message, caller)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:  # the handler's formatter would write it as is
            record.exc_text = _FORMAT.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _masked(record.exc_text, caller)
        if record.stack_info:
            record.stack_info = _masked(record.stack_info, caller)
        return True


_FORMAT = logging.Formatter()


def _masked(text: str, caller: str | None) -> str:
    if caller is not None:
        text = text.replace(caller, mask_number(caller))
    return mask_text(text)
