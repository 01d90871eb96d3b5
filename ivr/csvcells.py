"""Every CSV file the engine writes (statistics, open data, referrals), through one writer.

A CSV is opened in a spreadsheet, where a cell starting with `=`, `+`, `-` or `@` (or a tab or
carriage return before one) is taken as a formula: a referral office named `=2+5` shows 7, and a
crafted name can fetch a URL or run a command on the reader's PC. Such text cells get a leading
`'` (OWASP's advice), which spreadsheets show as plain text. Only text is touched: an int, float
or Decimal cell is written as it is, so a negative figure stays a number (`-3`), while the text
`"-3"` becomes `'-3`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """The value as a spreadsheet will show it, never run it. A carriage return inside text
    becomes a line feed: the csv module quotes a cell only for the characters of the line ending
    it writes (`\\n`), so a bare CR was left unquoted and split the row for every reader, a
    second way to start a cell with a formula."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_START):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n")


def write_csv(fieldnames: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A header and the rows, each text cell made safe (the header's too: a column can be named
    after a configured topic or reason); `\\n` line ends."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writerow({name: safe_cell(name) for name in fieldnames})
    writer.writerows({name: safe_cell(value) for name, value in row.items()} for row in rows)
    return out.getvalue()
