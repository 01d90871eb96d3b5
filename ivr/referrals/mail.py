"""The e-mail that gives a citizen the office's details after a call.

Like the web requests' receipts, it carries only the service's words and the directory's data
(which supervisors import): never what an operator typed, so the service's name cannot carry
someone's free text to an inbox the citizen only said aloud.
"""

from __future__ import annotations

from typing import Any

FIELDS = (("address", "Indirizzo"), ("hours", "Orari"), ("phone", "Telefono"), ("email", "E-mail"), ("web", "Sito"))


def referral_text(ticket_id: int, details: dict[str, Any], service: str) -> tuple[str, str]:
    """Subject and body; `details` is the snapshot kept on the referral."""
    lines = [str(details.get("kind_label") or ""), str(details.get("name") or "")]
    lines += [f"{label}: {details[key]}" for key, label in FIELDS if details.get(key)]
    office = "\n".join(line for line in lines if line)
    return (
        f"{service}: a chi rivolgersi (pratica n. {ticket_id})",
        f"Gentile utente,\n\ncome le abbiamo detto al telefono (pratica n. {ticket_id}), per la sua "
        f"richiesta può rivolgersi a:\n\n{office}\n\n"
        "Prima di andare, controlli gli orari sul sito dell'ufficio.\n"
        "Se non ha chiamato lei il nostro numero, può ignorare questo messaggio.\n\n"
        f"{service}\n",
    )
