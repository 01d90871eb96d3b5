"""The directory as a CSV file: read, check every row, and say exactly what is wrong where.

A file is taken whole or not at all: one bad row and nothing is imported, and every error is
reported with its line number (as a spreadsheet shows it) and its column, so whoever keeps the
file can fix all of them in one pass. UTF-8 (a BOM is fine); `;` or `,` between fields, as
Italian spreadsheets export either.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from ivr.referrals.names import CPI, KINDS, fold
from ivr.referrals.provinces import PROVINCES

# Column names as the sample file writes them, and the English ones also accepted.
COLUMNS = ("codice", "tipo", "nome", "regione", "provincia", "comuni", "indirizzo", "orari", "telefono", "email",
           "web", "attivo", "fonte")  # fmt: skip
REQUIRED = ("codice", "tipo", "nome")
ALIASES = {"code": "codice", "kind": "tipo", "name": "nome", "region": "regione", "province": "provincia",
           "address": "indirizzo", "hours": "orari", "phone": "telefono", "e-mail": "email", "active": "attivo",
           "source": "fonte"}  # fmt: skip
COMUNI_SEPARATOR = "|"
MAX_BYTES = 2_000_000
MAX_ROWS = 10_000
LIMITS = {"codice": 32, "nome": 200, "regione": 64, "indirizzo": 300, "orari": 1000, "telefono": 64, "email": 254,
          "web": 300, "fonte": 200}  # fmt: skip
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ./-]{4,30}$")
_EMAIL = re.compile(r"^[^@\s<>\"',;|]+@[^@\s<>\"',;|]+\.[^@\s<>\"',;|]+$")
_WEB = re.compile(r"^https?://[^\s<>\"]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_TRUE, _FALSE = {"", "si", "sì", "s", "1", "true", "yes", "vero"}, {"no", "n", "0", "false", "falso"}


@dataclass(frozen=True)
class OfficeRow:
    """One office as the file describes it."""

    code: str
    kind: str
    name: str
    region: str | None
    province: str | None
    comuni: tuple[str, ...]
    address: str | None
    hours: str | None
    phone: str | None
    email: str | None
    web: str | None
    active: bool
    source: str | None


@dataclass(frozen=True)
class RowError:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"riga {self.line}" + (f", colonna «{self.column}»" if self.column else "")
        return f"{where}: {self.message}"


class CsvRejected(ValueError):
    """The file has errors: none of it was imported."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(str(e) for e in errors[:5]) + (" ..." if len(errors) > 5 else ""))
        self.errors = errors


def parse(data: bytes) -> list[OfficeRow]:
    """Every row of the file, or CsvRejected listing every error found."""
    if len(data) > MAX_BYTES:
        raise CsvRejected([RowError(1, None, f"file troppo grande (al massimo {MAX_BYTES // 1_000_000} MB)")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvRejected([RowError(line, None, "il file non è in UTF-8 (salvarlo come «CSV UTF-8»)")]) from None
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise CsvRejected([RowError(1, None, "il file è vuoto")])
    header_line = next(line for line in lines if line.strip())
    delimiter = ";" if header_line.count(";") >= header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    errors: list[RowError] = []
    rows: list[OfficeRow] = []
    seen: dict[str, int] = {}
    header: list[str] | None = None
    try:
        for fields in reader:
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = _header(fields, line, errors)
                if errors:
                    raise CsvRejected(errors)
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                errors.append(RowError(line, None, f"troppe righe (al massimo {MAX_ROWS})"))
                break
            if len(fields) != len(header):
                errors.append(RowError(line, None, f"{len(fields)} campi invece di {len(header)}"))
                continue
            row = _row(dict(zip(header, fields, strict=True)), line, errors)
            if row is None:
                continue
            if row.code in seen:
                errors.append(RowError(line, "codice", f"codice {row.code} già usato alla riga {seen[row.code]}"))
                continue
            seen[row.code] = line
            rows.append(row)
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, None, f"CSV non leggibile: {exc}"))
    if header is None:
        errors.append(RowError(1, None, "manca la riga di intestazione"))
    elif not rows and not errors:
        errors.append(RowError(reader.line_num, None, "nessun ufficio nel file"))
    if errors:
        raise CsvRejected(errors)
    return rows


def _header(fields: list[str], line: int, errors: list[RowError]) -> list[str]:
    names = [ALIASES.get(f.strip().casefold(), f.strip().casefold()) for f in fields]
    for name in names:
        if name not in COLUMNS:
            errors.append(RowError(line, name, f"colonna sconosciuta (ammesse: {', '.join(COLUMNS)})"))
    for name in REQUIRED:
        if name not in names:
            errors.append(RowError(line, name, "colonna obbligatoria mancante"))
    for name in {n for n in names if names.count(n) > 1}:
        errors.append(RowError(line, name, "colonna ripetuta"))
    return names


def _row(cells: dict[str, str], line: int, errors: list[RowError]) -> OfficeRow | None:
    before = len(errors)

    def cell(name: str) -> str | None:
        value = cells.get(name, "").strip()
        if _CONTROL.search(value):
            errors.append(RowError(line, name, "contiene a capo o caratteri di controllo"))
            return None
        limit = LIMITS.get(name)
        if limit is not None and len(value) > limit:
            errors.append(RowError(line, name, f"al massimo {limit} caratteri"))
            return None
        return value or None

    def check(name: str, value: str | None, pattern: re.Pattern[str], what: str) -> str | None:
        if value is not None and not pattern.match(value):
            errors.append(RowError(line, name, what))
        return value

    code = check("codice", cell("codice"), _CODE, "solo lettere, cifre, punto, trattino, trattino basso")
    kind = (cell("tipo") or "").casefold()
    name = cell("nome")
    region = cell("regione")
    province = (cell("provincia") or "").upper() or None
    for column, value in (("codice", code), ("nome", name)):
        if value is None and not _has_error(errors, before, column):
            errors.append(RowError(line, column, "campo obbligatorio"))
    if kind not in KINDS:
        errors.append(RowError(line, "tipo", f"«{kind}» non è un tipo ammesso ({', '.join(KINDS)})"))
    if province is not None and province not in PROVINCES:
        errors.append(RowError(line, "provincia", f"«{province}» non è la sigla di una provincia"))
    if kind == CPI and province is None and not _has_error(errors, before, "provincia"):
        errors.append(RowError(line, "provincia", "obbligatoria per un centro per l'impiego"))
    comuni = _comuni(cells.get("comuni", ""), line, errors)
    phone = check("telefono", cell("telefono"), _PHONE, "numero non valido (cifre, spazi, + iniziale)")
    email = check("email", cell("email"), _EMAIL, "indirizzo e-mail non valido")
    web = check("web", cell("web"), _WEB, "deve iniziare con https:// (o http://), senza spazi")
    active_text = (cells.get("attivo") or "").strip().casefold()
    if active_text not in _TRUE | _FALSE:
        errors.append(RowError(line, "attivo", "scrivere sì o no"))
    address, hours, source = cell("indirizzo"), cell("orari"), cell("fonte")
    if len(errors) > before:
        return None
    assert code is not None and name is not None
    return OfficeRow(code, kind, name, region, province, comuni, address, hours, phone, email, web,
                     active_text in _TRUE, source)  # fmt: skip


def _comuni(value: str, line: int, errors: list[RowError]) -> tuple[str, ...]:
    names: list[str] = []
    for part in value.split(COMUNI_SEPARATOR):
        comune = part.strip()
        if not comune:
            continue
        if _CONTROL.search(comune) or len(comune) > 128 or not fold(comune):
            errors.append(RowError(line, "comuni", f"nome di comune non valido: «{comune[:40]}»"))
            continue
        names.append(comune)
    return tuple(dict.fromkeys(names))


def _has_error(errors: list[RowError], since: int, column: str) -> bool:
    return any(e.column == column for e in errors[since:])
