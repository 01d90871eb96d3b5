"""Phone numbers where nobody needs to dial them: log lines, work lists, the wallboard.

One rule everywhere: `***` and the last three digits, enough to tell two callers apart or to
match two lines about the same one, never enough to call them back. It applies to every way a
number is written: E.164 (`+39 347 ...`, `+44 20 ...`), with the international prefix
(`0039...`, `0044...`), national (`06...`, `347...`), and the numbers the line refuses to dial
(premium `89x`, shared cost `84x`, `1xx`, service codes `4xx`), with spaces, dots, dashes or
parentheses between the groups.

Log lines also hold things that are not phone numbers and must stay readable: ticket and
voicemail ids, counts, ports, times, dates, IP addresses and Asterisk channel ids (`epoch.seq`).
So a number needs at least six digits (a short code is nobody's number; ids and counts are
shorter for years), and a run of digits shaped like a date, an IPv4 address or a channel id,
one after the words `ticket` or `voicemail`, or a byte count, is left as it is.
"""

from __future__ import annotations

import re

HIDDEN = "nascosto"  # no number at all (a withheld caller id), as the console's lists say it
MASK = "***"
KEEP = 3  # digits shown
MIN_DIGITS = 6  # fewer: a short code, an id, a count
MAX_DIGITS = 17  # 00 + the 15 digits E.164 allows; more digits side by side are several things

_SEP = r"(?:[ .\-]\(?|\)[ .\-]?|\()"  # between groups: one space, dot or dash, or parentheses
PHONE = re.compile(
    r"(?<![\w.#])(?<![A-Za-z]-)(?<!ticket )(?<!tickets )(?<!voicemail )"  # not inside a word or an id
    r"(?:\+ ?|\(\+?)?"  # +39, (+39), (06)
    r"\d+(?:" + _SEP + r"\d+){0,8}\)?"
    r"(?!\w|[.\-]?\d| ?(?:bytes|ms)\b)"  # not cut out of a longer token, not a size or a duration
)
_NOT_A_NUMBER = re.compile(
    r"^(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}-\d{1,2}-\d{4}"  # dates
    r"|\d{1,3}(?:\.\d{1,3}){3}"  # IPv4 addresses
    r"|\d{9,10}\.\d{1,6}"  # Asterisk channel ids: epoch seconds . sequence
    r"|\d\.\d+)$"  # a decimal
)
_NON_DIGIT = re.compile(r"\D")


def _digits(text: str) -> int:
    return len(_NON_DIGIT.sub("", text))


def mask_number(number: str | None) -> str:
    """`***` and the last three digits; `***` alone for something too short to be a number;
    `nascosto` when there is no number."""
    if not number:
        return HIDDEN
    digits = _NON_DIGIT.sub("", number)
    if len(digits) < MIN_DIGITS:
        return MASK
    return MASK + digits[-KEEP:]


def mask_text(text: str) -> str:
    """`text` with every phone number in it masked."""
    return PHONE.sub(_masked, text)


def _masked(match: re.Match[str]) -> str:
    found = match.group(0)
    if _is_number(found):
        return mask_number(found)
    if " " not in found:
        return found
    # Several things side by side ("1740000000.7 3471234567", "+44 20 7946 0958 2026-02-10"):
    # the groups are read left to right and gathered into numbers of at most MAX_DIGITS digits.
    out: list[str] = []
    group: list[str] = []

    def flush() -> None:
        if group:
            joined = " ".join(group)
            out.append(mask_number(joined) if _digits(joined) >= MIN_DIGITS else joined)
            group.clear()

    for token in found.split(" "):
        if _NOT_A_NUMBER.match(token) or _digits(token) > MAX_DIGITS:
            flush()
            out.append(token)
            continue
        if group and _digits(" ".join([*group, token])) > MAX_DIGITS:
            flush()
        group.append(token)
    flush()
    return " ".join(out)


def _is_number(found: str) -> bool:
    """One number: not too many digits, and no part of it a date, an address or an id."""
    if not MIN_DIGITS <= _digits(found) <= MAX_DIGITS:
        return False
    return not any(_NOT_A_NUMBER.match(token) for token in found.split(" "))
