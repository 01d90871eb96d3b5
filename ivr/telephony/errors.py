"""Errors the telephony adapters raise, so the call flow can tell a hangup from a fault."""

from __future__ import annotations


class TelephonyError(Exception):
    """Base for every error raised by a telephony adapter."""


class AriUnavailable(TelephonyError):
    """Asterisk cannot be reached (connection refused, timeout, socket closed)."""


class AriError(TelephonyError):
    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {message}")
        self.status = status
        self.message = message


class NotFound(AriError):
    """The channel, bridge or playback no longer exists (typically: the caller hung up)."""


class CallerHungUp(TelephonyError):
    """The channel is gone; raised out of any await of a call's session."""


class CallLost(CallerHungUp):
    """The channel vanished while the engine could not see it (Asterisk restarted, or the call
    ended during an outage): a failure of the service, not the caller's choice."""


class AmiError(TelephonyError):
    """An AMI action failed or timed out."""


class DialFailed(TelephonyError):
    """A leg placed to an endpoint was not answered; `cause` says why in one word ("busy",
    "no_answer", "cancelled", "unreachable", "refused:<status>"...)."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause
