"""Every write command of the call path, named in one place.

A call writes through named commands with plain data arguments (`ivr.tickets.commands`): run at
once, or kept in the durable outbox while the database is away and replayed when it returns. The
replay can only run what is registered, so the table is explicit here rather than filled as a side
effect of importing each feature (a replay in a process that had not imported `acd.cap` could not
count an admission). `install()` is idempotent; whatever builds a ticket store calls it first.
"""

from __future__ import annotations

from ivr.acd import cap, history, queued_store
from ivr.dialout import guard as dialout
from ivr.recordings import store as recordings
from ivr.survey import step as survey
from ivr.tickets import ticket_commands as tickets
from ivr.tickets.commands import CommandSpec, register
from ivr.voicemail import messages, service

TABLE: dict[str, CommandSpec] = {
    # the ticket and its timeline
    "ticket.open": CommandSpec(tickets.open_ticket, creates=True, lookup=tickets.ticket_by_call_uid),
    "ticket.event": CommandSpec(tickets.add_event),
    "ticket.update": CommandSpec(tickets.update_ticket, stale=tickets.update_ticket_of_earlier_run),
    "ticket.close": CommandSpec(tickets.close_ticket),
    # the queue
    "cap.add": CommandSpec(cap.add_admission),
    "queued_callback.set": CommandSpec(queued_store.set_values),
    "dialout.audit": CommandSpec(dialout.audit_entry),
    "operator.state": CommandSpec(history.add_state),
    # voicemail and recordings
    "voicemail.new_message": CommandSpec(messages.new_message, creates=True, lookup=messages.message_of_ticket),
    "voicemail.set_callback": CommandSpec(messages.set_callback),
    "recordings.add": CommandSpec(recordings.add_recording, creates=True, lookup=recordings.recording_by_path),
    "recordings.web_path": CommandSpec(service.set_web_path),
    # the questionnaire
    "survey.answer": CommandSpec(survey.add_answer),
}


def install() -> None:
    for name, spec in TABLE.items():
        register(name, spec)
