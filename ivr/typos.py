"""Typo tolerance over a known vocabulary: words within edit distance 1 (2 for long ones),
found through a table of deletions (symmetric delete): only candidates sharing a deletion are
compared, so a typo costs well under a millisecond over thousands of known words. The knowledge
base's search corrects its terms with it, the referral directory its comuni and provinces."""

from __future__ import annotations

from collections.abc import Iterable

MIN_TYPO_LEN = 4  # shorter words are not corrected: "did" would become half the vocabulary
LONG_TERM = 7  # words this long or longer tolerate two edits


def max_edits(term: str) -> int:
    if len(term) < MIN_TYPO_LEN:
        return 0
    return 2 if len(term) >= LONG_TERM else 1


def _deletions(term: str, depth: int) -> set[str]:
    found = {term}
    frontier = {term}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap of two letters is one edit), cut at limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        previous2, previous = previous, row
    return previous[-1]


class Vocabulary:
    """The terms of the indexed articles, with their deletions for typo lookups (built lazily)."""

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms = frozenset(terms)
        self._deletes: dict[str, list[str]] | None = None

    def __contains__(self, term: object) -> bool:
        return term in self.terms

    def _index(self) -> dict[str, list[str]]:
        if self._deletes is None:
            index: dict[str, list[str]] = {}
            for term in self.terms:
                for variant in _deletions(term, max_edits(term)):
                    index.setdefault(variant, []).append(term)
            self._deletes = index
        return self._deletes

    def near(self, term: str) -> list[str]:
        """Known terms within the edits `term` tolerates, closest first (none for short terms)."""
        limit = max_edits(term)
        if limit == 0:
            return []
        index = self._index()
        candidates = {c for v in _deletions(term, limit) for c in index.get(v, ())}
        scored = {c: d for c in candidates if (d := distance(term, c, min(limit, max_edits(c) or 1))) <= limit}
        # A typo in an ending the stemmer did not recognise ("apprendistaot"): a known term that
        # is the word without its last one to three letters.
        for cut in range(1, 4):
            stem = term[:-cut]
            if len(stem) >= MIN_TYPO_LEN + 1 and stem in self.terms:
                scored.setdefault(stem, 1)
        return [c for c, _d in sorted(scored.items(), key=lambda item: (item[1], item[0]))]
