"""Text from outside (a caller id from the carrier, a web form) made fit for a column."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean(value: object, limit: int) -> str | None:
    """A printable, UTF-8-encodable string of at most `limit` characters, or None.

    Carriers and clients send what they like: numbers as JSON numbers, lists, NUL bytes, lone
    surrogates, kilobytes of digits. PostgreSQL refuses NUL and over-long values and no driver
    can encode a lone surrogate, so a call would lose its ticket over its caller id."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub("", text).strip()[:limit]
    return text or None
