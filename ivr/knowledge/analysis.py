"""From Italian text to index terms, the same way for articles and for what an operator types.

Accents are folded first (operators type "perche", "citta"), then the Snowball Italian stemmer
cuts suffixes, then the word families of `config/knowledge/famiglie.yaml` merge stems the stemmer
keeps apart ("iscrivermi" and "iscrizione"). Stop words never become terms. The terms are plain
`[a-z0-9]` strings, so they go into FTS5 and tsquery expressions without escaping.

Typo tolerance works on these terms: a term no article has is replaced by the known terms within
edit distance 1 (2 for long ones), found through a table of deletions (symmetric delete): only
candidates sharing a deletion are compared, so a typo costs well under a millisecond over the
vocabulary of thousands of articles.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import snowballstemmer  # type: ignore[import-untyped]
import yaml

_WORD = re.compile(r"[a-z0-9]+")
MIN_PREFIX = 5


def fold(text: str) -> str:
    """Lower case, accents removed ("è" -> "e"), everything else kept."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The folded words of `text` (an apostrophe splits "l'iscrizione" in two)."""
    return _WORD.findall(fold(text))


class AnalysisError(ValueError):
    pass


@dataclass
class Analyzer:
    stopwords: frozenset[str] = frozenset()
    families: dict[str, str] = field(default_factory=dict)  # stem -> the family's stem

    def __post_init__(self) -> None:
        self._stemmer = snowballstemmer.stemmer("italian")
        self._cache: dict[str, str] = {}

    @classmethod
    def load(cls, stopwords_file: Path | None, families_file: Path | None) -> Analyzer:
        """The analyzer of the config's data files (either may be missing: no stop words, no families)."""
        stop: frozenset[str] = frozenset()
        if stopwords_file is not None and stopwords_file.exists():
            lines = stopwords_file.read_text(encoding="utf-8").splitlines()
            stop = frozenset(w for line in lines if not line.lstrip().startswith("#") for w in words(line))
        analyzer = cls(stop)
        if families_file is not None and families_file.exists():
            data = yaml.safe_load(families_file.read_text(encoding="utf-8")) or {}
            groups = data.get("famiglie") if isinstance(data, dict) else None
            if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
                raise AnalysisError(f"{families_file}: «famiglie» must be a list of lists of words")
            analyzer.add_families(groups)
        return analyzer

    def add_families(self, groups: Iterable[Iterable[object]]) -> None:
        for group in groups:
            stems = [self._stem(w) for item in group for w in words(str(item))]
            if not stems:
                continue
            head = self.families.get(stems[0], stems[0])
            for stem in stems:
                self.families.setdefault(stem, head)
        self._cache.clear()

    def _stem(self, word: str) -> str:
        stem: str = self._stemmer.stemWord(word)
        return stem

    def term(self, word: str) -> str | None:
        """The index term of one folded word, or None for a stop word."""
        if word in self.stopwords:
            return None
        found = self._cache.get(word)
        if found is None:
            stem = self._stem(word)
            found = self.families.get(stem, stem)
            if len(self._cache) < 100_000:
                self._cache[word] = found
        return found

    def terms(self, text: str) -> list[str]:
        """Every index term of `text`, in order (repeats kept: they weigh in the ranking)."""
        return [t for t in (self.term(w) for w in words(text)) if t]

    def indexed(self, text: str) -> str:
        """`text` as stored for the full-text index: its terms separated by spaces."""
        return " ".join(self.terms(text))


def prefix_of(term: str) -> str | None:
    """The shorter stem a prefix match uses ("iscriv" -> "iscri"), or None for short terms."""
    if len(term) < MIN_PREFIX + 1:
        return None
    return term[: max(MIN_PREFIX, len(term) - 2)]
