"""May this engine act on the line? One answer for every part that acts outside the database.

The lease (ivr.ha.lease) fences the ticket database: the writer checks the token in every
transaction. Nothing fences Asterisk, the carrier, the SMTP server or the files: they obey
whoever asks. So every such action asks this guard first: an ARI request (calls, dial-outs,
PJSIP reloads), a rewrite of the operators' PJSIP file, an e-mail, a file the engine's features
write (voicemail, recordings, prompts, open data).

The answer must be cheap (an ARI request cannot wait for a database round trip) and must not
trust a belief that has gone stale. So it is local knowledge only: "the lease is mine until T",
T being when this engine sent its last successful renewal plus the lease term less a margin
(the database sets the expiry from its own clock after receiving that renewal, so T always
comes before a standby may take over). Each check reads the monotonic clock and refuses from T
on, and from the moment the engine learns it lost the lease. A process frozen past its lease
(SIGSTOP, a stalled virtual machine) wakes up with the clock moved on: CLOCK_MONOTONIC counts
the time a process spends stopped (it is the system's elapsed time, not the process's; measured:
a process stopped for 2 s saw time.monotonic() advance 2.2 s across it), so the first check
after waking refuses, before the renewal loop has even run. CLOCK_BOOTTIME is used where Linux
has it: the same clock, also counting a suspended machine.

An engine built without a lease (tests, tools working on one component) is always allowed.

Past its lease, an engine may still act while Asterisk proves its Stasis app is its own (when
`app_proof_s` is set: `ha.keep_calls_on_store_loss`). Asterisk gives an app to the newest event
socket that asks for it and tells the older one (ApplicationReplaced) on that same socket, in
order. So a ping sent at time s on our socket, answered with no ApplicationReplaced before the
pong, proves the app was still ours at s; that proof is trusted until s + app_proof_s. A standby
that takes the lease opens its socket (taking the app) and waits app_proof_s before its first
action, so the two never act together: every proof the old engine can still hold was sent before
the takeover. This keeps the line answering through a database outage that no engine can take the
lease during (both lose the database), without two engines driving calls when only one lost it.
A process frozen past its lease wakes with no fresh proof and refuses, as without this.

A refusal while the lease is only stale (not known lost) leaves something undone that no other
engine was told to do: a call's next step, the StasisStart of a call that arrived meanwhile, an
offer to an operator. Nobody takes those calls while this engine holds the lease, and they cannot
be put back one by one. So the guard remembers the first such refusal (`stale_refused`) and the
runner gives the line up when it sees it, releasing the lease for the standby, which adopts every
call in the app (full run 6: the woken engine renewed its lease after leaving dozens of calls and
the StasisStart of 15 to nobody). An engine that woke and had asked for nothing while stale keeps
the lease and its calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def elapsed() -> float:
    """The system's elapsed seconds: CLOCK_BOOTTIME where there is one (CLOCK_MONOTONIC that also
    counts a suspended machine, whose lease runs out in the database meanwhile), else monotonic."""
    return time.clock_gettime(_CLOCK)


_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


class Fenced(Exception):
    """This engine may not act on the line any more (its lease is lost or stale). Never to be
    swallowed: whatever was about to happen must not happen, and the engine is about to exit."""


class LineGuard:
    """The engine's knowledge of its lease, asked before every action outside the database."""

    def __init__(self, *, monotonic: Callable[[], float] = elapsed, app_proof_s: float | None = None) -> None:
        """`app_proof_s`: how long Asterisk's answer to a ping lets this engine act past its lease
        (None: never, the lease alone decides)."""
        if app_proof_s is not None and app_proof_s <= 0:
            raise ValueError(f"app proof {app_proof_s} s: must be positive (ha.app_proof_s)")
        self.now = monotonic  # the runner stamps its renewals with the same clock
        self.valid_until: float | None = None  # None: no lease at all, every action is allowed
        self.lost: str | None = None
        self.app_proof_s = app_proof_s
        self.app_proven_at: float | None = None  # when the latest ping Asterisk answered was sent
        self.stale_refused: str | None = None  # the first action refused while the lease was stale, not lost

    def hold(self, sent_at: float, term_s: float) -> None:
        """The lease was taken, or renewed, by a request sent at `sent_at` (this guard's clock):
        it is ours until `term_s` later (the ttl less the margin)."""
        if term_s <= 0:
            raise ValueError(f"lease term {term_s} s: must be positive (ha.lease_ttl_s)")
        until = sent_at + term_s
        self.valid_until = until if self.valid_until is None else max(self.valid_until, until)

    def lose(self, reason: str) -> None:
        """The engine learnt the lease is not its own: refuse everything from now on."""
        self.lost = self.lost or reason

    def app_owned(self, ping_sent_at: float) -> None:
        """Asterisk answered a ping sent at `ping_sent_at` (this guard's clock) on the event socket,
        with no ApplicationReplaced before the answer: the app was ours at least until then."""
        if self.app_proven_at is None or ping_sent_at > self.app_proven_at:
            self.app_proven_at = ping_sent_at

    def app_unproven(self) -> None:
        """The event socket went down or was opened again: nothing it said before proves anything."""
        self.app_proven_at = None

    def app_replaced(self) -> None:
        """Asterisk gave our app to another socket. Past the lease that can only be the engine that
        took the lease over: lost for good. Within the lease it is some other client (a tool), and
        the app watch takes the app back."""
        self.app_proven_at = None
        if self.past_lease():
            self.lose("Asterisk gave the Stasis app to another engine's event socket")

    def past_lease(self) -> bool:
        return self.valid_until is not None and self.now() >= self.valid_until

    def connect_refusal(self) -> str | None:
        """Why this engine may not open the event socket now. Opening it takes the app from
        whoever holds it, so only a valid lease allows it: Asterisk's proof does not."""
        if self.lost is not None:
            return f"the lease was lost ({self.lost})"
        if self.past_lease():
            return "its lease is stale: opening the event socket could take the app from the engine now active"
        return None

    def refusal(self, action: str = "an action") -> str | None:
        """Why this engine may not do `action` now, or None when it may. Asking is taken for
        the action being left undone when refused (`stale_refused`)."""
        if self.lost is not None:
            return f"the lease was lost ({self.lost})"
        if self.valid_until is None:
            return None
        now = self.now()
        late = now - self.valid_until
        if late < 0:
            return None
        if self.app_proof_s is None:
            why = f"its lease was last known valid {late:.1f} s ago"
        else:
            proven = self.app_proven_at
            if proven is not None and now < proven + self.app_proof_s:
                return None  # riding a store outage: Asterisk says the app is still ours
            why = f"its lease was last known valid {late:.1f} s ago and Asterisk has not confirmed its app since"
        if self.stale_refused is None:
            self.stale_refused = f"{action} refused: {why}"
        return why

    def allowed(self, action: str = "an action") -> bool:
        return self.refusal(action) is None

    def check(self, action: str) -> None:
        """Raise Fenced naming `action` unless this engine may act now."""
        why = self.refusal(action)
        if why is not None:
            raise Fenced(f"{action}: refused, this engine is fenced: {why}")


UNLEASED = LineGuard()  # the default of parts built without a lease: always allowed
