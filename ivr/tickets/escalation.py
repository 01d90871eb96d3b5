"""What a phone call passed to the second level must carry: who the citizen is and how to reach
them with the answer.

The charter: "nelle richieste e nelle segnalazioni che comportano approfondimenti, al cittadino è
richiesto di indicare le proprie generalità e fornire un recapito e-mail". The operator asks for
the name always, and for an e-mail address, or, when the citizen wants the answer by phone, a
number confirmed with them (the caller id read back, or the one they dictate). The rule lives
here, not in a page, so every way of filing an outcome can apply the same one; the messages are
the operator's, in Italian.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

AnswerBy = Literal["phone", "email"]
ANSWER_BY: tuple[AnswerBy, ...] = ("phone", "email")
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
MIN_DIGITS, MAX_DIGITS = 6, 15


class ContactError(ValueError):
    """The contact the second level needs is missing or wrong; the message says what to fix."""


@dataclass(frozen=True)
class Contact:
    name: str
    answer_by: AnswerBy
    email: str | None
    phone: str | None


def _phone(raw: str) -> str | None:
    """Digits (a leading + kept), spaces, dots, dashes and slashes dropped; None if not a number."""
    compact = re.sub(r"[\s./-]", "", raw)
    digits = compact[1:] if compact.startswith("+") else compact
    if not digits.isdigit() or not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return None
    return compact


def contact(
    *,
    name: str | None,
    answer_by: str | None,
    email: str | None,
    caller_id: str | None,
    caller_id_confirmed: bool,
    typed_phone: str | None,
) -> Contact:
    """The contact from what the operator entered, or ContactError naming every problem."""
    problems: list[str] = []
    name = " ".join((name or "").split())
    if len(name) < 2:
        problems.append("Scriva nome e cognome del cittadino: servono per il secondo livello.")
    elif len(name) > 128 or _CONTROL.search(name):
        problems.append("Nome e cognome: al massimo 128 caratteri, senza caratteri speciali.")
    email = (email or "").strip() or None
    if email is not None and (len(email) > 254 or not _EMAIL.match(email)):
        problems.append(f"L'indirizzo e-mail «{email[:60]}» non è valido.")
        email = None
    if answer_by not in ANSWER_BY:
        problems.append("Scelga come il cittadino riceverà la risposta: per e-mail o al telefono.")
    phone = None
    if typed_phone and typed_phone.strip():
        phone = _phone(typed_phone.strip())
        if phone is None:
            problems.append(f"Il numero «{typed_phone.strip()[:30]}» non è valido: da 6 a 15 cifre.")
    elif caller_id_confirmed:
        known = _phone(caller_id or "") if caller_id and caller_id != "anonymous" else None
        if known is None:
            problems.append("Il numero del chiamante non è disponibile: scriva il numero da richiamare.")
        phone = known
    if answer_by == "email" and email is None and not any("e-mail «" in p for p in problems):
        problems.append("Per la risposta per e-mail serve l'indirizzo e-mail del cittadino.")
    if answer_by == "phone" and phone is None and not any("numero" in p for p in problems):
        problems.append(
            "Per la risposta al telefono confermi con il cittadino il suo numero (casella di conferma) "
            "o scriva il numero da richiamare."
        )
    if problems:
        raise ContactError(" ".join(problems))
    assert answer_by in ANSWER_BY
    by: AnswerBy = "phone" if answer_by == "phone" else "email"
    return Contact(name, by, email, phone)
