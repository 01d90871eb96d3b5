"""Why the citizen called, beside how the call ended: the reason an operator picks from the
deployment's list (`reasons.options`: registration, NASpI, Garanzia Giovani, tirocini...).

The charter's statistics say how many calls were answered; the service needs to know what they
were about to decide where the portal, the guides and the training fall short. The operator picks
the reason while talking (the desk's call card) or with the outcome (the JSON API and
`ivr ticket outcome`); every way of filing a call (an outcome, an article, a referral) refuses one
without its reason when the list is set and `reasons.required` holds. One rule, `for_filing`,
used by each of them.
"""

from __future__ import annotations

from ivr.tickets.config import ReasonSettings

MISSING = "Scegli il motivo della chiamata: serve per registrare la scheda."


class ReasonError(ValueError):
    """A reason unknown to the list, or a filing without the reason the deployment requires."""


class CallReasons:
    def __init__(self, settings: ReasonSettings) -> None:
        self.settings = settings

    @property
    def asked(self) -> bool:
        return self.settings.asked

    def valid(self, key: str) -> str:
        if key not in {o.key for o in self.settings.options}:
            known = ", ".join(o.key for o in self.settings.options) or "nessuno (reasons.options è vuoto)"
            raise ReasonError(f"motivo della chiamata sconosciuto: {key!r} (ammessi: {known})")
        return key

    def for_filing(self, current: str | None, given: str | None) -> str | None:
        """The reason a filing sets: `given` (checked against the list), or None to keep the
        ticket's `current` one. ReasonError when the list requires one and there is none."""
        if given:
            return self.valid(given)
        if current is None and self.settings.asked and self.settings.required:
            raise ReasonError(MISSING)
        return None
