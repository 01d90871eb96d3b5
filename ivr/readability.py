"""The Gulpease index: how readable an Italian text is, on a 0-100 scale.

The charter promises answers "in un linguaggio semplice e chiaro"; Gulpease (Lucisano and
Piemontese, 1988) is the index made for Italian, computed from letters, words and sentences only,
so every article, prompt and reply can be measured the same way:

    G = 89 + (300 * sentences - 10 * letters) / words

Below 80 a text is hard for readers with an elementary education, below 60 for those with a
lower secondary one, below 40 for those with a high-school diploma.

Counting rules, the ones used when the index is computed by hand: a word is a run of letters or
digits (an apostrophe splits "l'ufficio" into two words, as it is read); letters are the
alphabetic characters and digits of the words; a sentence ends at `.`, `!` or `?` (a run of them
counts once), and a text or line that ends without one still counts as a sentence. Dots inside
numbers ("1.500") or web addresses end no sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_NUMBER_DOT = re.compile(r"(?<=\d)[.,](?=\d)")
_END = re.compile(r"[.!?]+")

# Thresholds for readers by schooling, from the index's authors.
LEVELS = ((80.0, "facile"), (60.0, "medio"), (40.0, "difficile"))


@dataclass(frozen=True)
class Counts:
    letters: int
    words: int
    sentences: int


def counts(text: str) -> Counts:
    """Letters, words and sentences of `text`, by the rules in the module's docstring."""
    text = _NUMBER_DOT.sub("", _URL.sub(" indirizzo ", text))
    words = _WORD.findall(text)
    letters = sum(len(w) for w in words)
    sentences = 0
    for line in text.splitlines():
        if not _WORD.search(line):
            continue
        pieces = _END.split(line)
        sentences += sum(1 for piece in pieces[:-1] if _WORD.search(piece))
        if _WORD.search(pieces[-1]):
            sentences += 1  # a line (a title, a list item) ending without a full stop
    return Counts(letters=letters, words=len(words), sentences=sentences)


def gulpease(text: str) -> float | None:
    """The index of `text`, clamped to 0-100 and rounded to one decimal; None with no words."""
    c = counts(text)
    if c.words == 0:
        return None
    value = 89 + (300 * c.sentences - 10 * c.letters) / c.words
    return round(min(100.0, max(0.0, value)), 1)


def level(index: float | None) -> str:
    """A word for the index: `facile`, `medio`, `difficile` or `molto difficile`."""
    if index is None:
        return "-"
    for threshold, name in LEVELS:
        if index >= threshold:
            return name
    return "molto difficile"
