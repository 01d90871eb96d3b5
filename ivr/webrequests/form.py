"""What a citizen sends with the web form or the JSON API, validated with Italian messages.

The same rules apply to both ways in, so an error reads the same in the page and in the API
answer, field by field.

`request_token` is the form's one-time token (rendered into each form the page serves, optional
in the API): a request carries it into the store, and the same form sent again finds the request
it filed instead of filing another (ivr.webrequests.channel).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TOPICS = {
    "citizens": "Cittadini, lavoratori, persone in cerca di lavoro",
    "employers": "Datori di lavoro",
    "agencies": "Agenzie per il lavoro, operatori pubblici e privati",
}
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_PHONE = re.compile(r"^\+?[0-9 ]{6,20}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Fields that end up in e-mail headers: a line break there would add headers (Bcc:, a new body).
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
TOKEN_FIELD = "request_token"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class RequestForm:
    name: str
    email: str
    phone: str | None
    topic: str
    subject: str
    message: str
    token: str | None = None

    def same_as(self, other: RequestForm) -> bool:
        """The same request, whatever token each came with."""
        return (self.name, self.email, self.phone, self.topic, self.subject, self.message) == (
            other.name, other.email, other.phone, other.topic, other.subject, other.message
        )  # fmt: skip


class FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse(data: Mapping[str, Any], *, max_message: int = 5000) -> RequestForm:
    """The request, or FormErrors naming every wrong field at once."""
    errors: dict[str, str] = {}

    def text(field: str, low: int, high: int, label: str, *, header: bool = False) -> str:
        value = data.get(field)
        if not isinstance(value, str):
            value = ""
        if header and _HEADER_UNSAFE.search(value):
            errors[field] = f"{label}: non può contenere a capo o caratteri di controllo"
            return value
        value = _CONTROL.sub("", _encodable(value)).strip()
        if len(value) < low:
            errors[field] = f"{label}: campo obbligatorio" if not value else f"{label}: almeno {low} caratteri"
        elif len(value) > high:
            errors[field] = f"{label}: al massimo {high} caratteri"
        return value

    name = text("name", 2, 128, "Nome e cognome", header=True)
    email = text("email", 3, 254, "E-mail", header=True)
    if "email" not in errors and not _EMAIL.match(email):
        errors["email"] = "E-mail: indirizzo non valido"
    phone_raw = data.get("phone")
    phone = _CONTROL.sub("", _encodable(phone_raw)).strip() if isinstance(phone_raw, str) else ""
    if phone and not _PHONE.match(phone):
        errors["phone"] = "Telefono: solo cifre, da 6 a 20"
    topic = data.get("topic")
    if not isinstance(topic, str) or topic not in TOPICS:
        errors["topic"] = "Chi scrive: scegliere una delle voci"
    subject = text("subject", 3, 200, "Oggetto", header=True)
    message = text("message", 10, max_message, "Richiesta")
    privacy = data.get("privacy")
    if not (privacy is True or (isinstance(privacy, str) and privacy in ("on", "true", "1", "yes"))):
        errors["privacy"] = "Informativa privacy: occorre prenderne visione per inviare la richiesta"
    if data.get("website"):  # a field people never see: only robots fill it in
        errors["website"] = "Richiesta non accettata"
    token = data.get(TOKEN_FIELD) or None
    if token is not None and not (isinstance(token, str) and _TOKEN.match(token)):
        errors[TOKEN_FIELD] = "Il modulo non è valido: ricarichi la pagina e lo invii di nuovo"
    if errors:
        raise FormErrors(errors)
    return RequestForm(name, email, phone.replace(" ", "") or None, str(topic), subject, message, token)


def _encodable(text: str) -> str:
    """No lone surrogates (valid in JSON, not in UTF-8): the database could not store them."""
    return text.encode("utf-8", "replace").decode("utf-8")
