"""The states a call can be in, and which may follow which.

A flow file may wire its nodes in any order the table below allows; a flow that asks for a move
the table forbids (e.g. anything after `hangup`, or the consent notice after the menu) is
rejected when the flow is loaded, and the session checks every move again at run time.
"""

from __future__ import annotations

import enum


class CallState(enum.StrEnum):
    STARTED = "started"  # ticket written, not answered yet
    HOURS = "hours"  # open, holiday, closure? (may play the closure prompt)
    PLAY = "play"
    CONSENT = "consent"  # recording notice while a quality campaign is active
    MENU = "menu"
    QUEUE = "queue"
    VOICEMAIL = "voicemail"
    SURVEY = "survey"  # the questionnaire after the operator hung up
    HANGUP = "hangup"
    STUB = "stub"  # a destination that does not exist yet: said so, and recorded as such
    ENDED = "ended"


S = CallState
_FLOW = frozenset({S.HOURS, S.PLAY, S.CONSENT, S.MENU, S.QUEUE, S.VOICEMAIL, S.HANGUP, S.STUB})
# The survey asks about a conversation with an operator, so only the queue leads to it.

TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    S.STARTED: _FLOW,
    S.HOURS: _FLOW - {S.HOURS},
    S.PLAY: _FLOW,
    # Nothing may be recorded before the notice, so the notice never comes after routing starts.
    S.CONSENT: frozenset({S.PLAY, S.MENU, S.QUEUE, S.VOICEMAIL, S.HANGUP, S.STUB}),
    S.MENU: frozenset({S.PLAY, S.MENU, S.QUEUE, S.VOICEMAIL, S.HANGUP, S.STUB}),
    S.QUEUE: frozenset({S.VOICEMAIL, S.PLAY, S.HANGUP, S.SURVEY}),
    S.SURVEY: frozenset({S.PLAY, S.HANGUP}),
    S.VOICEMAIL: frozenset({S.PLAY, S.HANGUP}),
    S.STUB: frozenset({S.HANGUP}),
    S.HANGUP: frozenset({S.ENDED}),
    S.ENDED: frozenset(),
}


class IllegalTransition(RuntimeError):
    pass


def check_transition(current: CallState, nxt: CallState) -> None:
    if nxt not in TRANSITIONS[current]:
        raise IllegalTransition(f"{current} -> {nxt} is not allowed")
