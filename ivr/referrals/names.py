"""How the directory names things: office kinds, and comuni and provinces folded for search.

An operator types what the citizen says: "reggio emilia", "Reggio nell'Emilia", "REGGIO
NELL’EMILIA", "forli". Folding drops case, accents, punctuation and the short linking words
(di, nell', della...), so all of these compare equal, and a prefix of the folded name finds it.
"""

from __future__ import annotations

import re
import unicodedata

from ivr.referrals.provinces import PROVINCES
from ivr.typos import distance, max_edits

CPI = "cpi"
REGIONAL = "agenzia_regionale"
KINDS: dict[str, str] = {
    CPI: "Centro per l'impiego",
    REGIONAL: "Agenzia regionale per il lavoro",
    "inps": "INPS",
    "ministero": "Ministero del Lavoro e ANPAL",
    "patronato": "Patronato",
    "eures": "EURES",
    "altro": "Altro soggetto della Rete nazionale",
}
# Articles and prepositions inside place names: "Reggio nell'Emilia" is "Reggio Emilia" to people.
_LINKING = frozenset((
    "di", "d", "del", "dell", "della", "dello", "dei", "degli", "delle", "nel", "nell", "nella", "nello", "nei",
    "negli", "nelle", "sul", "sull", "sulla", "sullo", "sui", "al", "all", "alla", "allo", "ai", "in", "e", "ed",
    "l", "lo", "la", "il", "i", "gli", "le",
))  # fmt: skip
_WORDS = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower case, no accents, no punctuation, no linking words: the key a search compares."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(w for w in _WORDS.findall(plain) if w not in _LINKING)


_FOLDED_PROVINCES = {sigla: fold(name) for sigla, name in PROVINCES.items()}


def provinces_matching(query: str) -> list[str]:
    """The sigle a query names: the sigla itself ("re", "RE") or a prefix of the folded name."""
    raw = query.strip().upper()
    if len(raw) == 2 and raw in PROVINCES:
        return [raw]
    key = fold(query)
    if len(key) < 2:
        return []
    return sorted(s for s, name in _FOLDED_PROVINCES.items() if name.startswith(key))


def provinces_near(query: str) -> list[str]:
    """The sigle of provinces whose folded name is within the edits a typo of `query` allows
    (none for short queries: "Re" is a comune)."""
    key = fold(query)
    limit = max_edits(key)
    if limit == 0:
        return []
    return sorted(s for s, name in _FOLDED_PROVINCES.items() if distance(key, name, limit) <= limit)


def province_name(sigla: str | None) -> str | None:
    return None if sigla is None else PROVINCES.get(sigla)
