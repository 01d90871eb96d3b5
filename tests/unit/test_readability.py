"""The Gulpease index against values computed by hand."""

from __future__ import annotations

import pytest

from ivr.readability import counts, gulpease, level


def test_a_short_sentence_by_hand() -> None:
    # "Il centro apre alle nove." -> words: Il centro apre alle nove = 5; letters 2+6+4+4+4 = 20;
    # 1 sentence. G = 89 + (300*1 - 10*20)/5 = 89 + 20 = 109 -> clamped to 100.
    c = counts("Il centro apre alle nove.")
    assert (c.letters, c.words, c.sentences) == (20, 5, 1)
    assert gulpease("Il centro apre alle nove.") == 100.0


def test_two_sentences_by_hand() -> None:
    text = "Per iscriverti devi avere la residenza in Italia. Porta un documento di identità valido."
    # Words: Per iscriverti devi avere la residenza in Italia (8) + Porta un documento di identità
    # valido (6) = 14. Letters: 3+10+4+5+2+9+2+6 = 41; 5+2+9+2+8+6 = 32; 73 in all. Sentences 2.
    # G = 89 + (600 - 730)/14 = 89 - 9.2857 = 79.714 -> 79.7
    c = counts(text)
    assert (c.letters, c.words, c.sentences) == (73, 14, 2)
    assert gulpease(text) == 79.7
    assert level(gulpease(text)) == "medio"


def test_bureaucratic_prose_scores_low() -> None:
    text = (
        "L'erogazione della prestazione previdenziale è subordinata alla presentazione "
        "dell'istanza telematica, corredata dalla documentazione comprovante la sussistenza "
        "dei requisiti contributivi."
    )
    # Words (the apostrophes split them): L erogazione della prestazione previdenziale è
    # subordinata alla presentazione dell istanza telematica corredata dalla documentazione
    # comprovante la sussistenza dei requisiti contributivi = 21. Letters: 1+10+5+11+13+1+11+4+
    # 13+4+7+10+9+5+14+11+2+11+3+9+12 = 166. One sentence.
    # G = 89 + (300 - 1660)/21 = 89 - 64.762 = 24.238 -> 24.2
    c = counts(text)
    assert (c.letters, c.words, c.sentences) == (166, 21, 1)
    assert gulpease(text) == 24.2
    assert level(gulpease(text)) == "molto difficile"


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Chiama il numero 800.000.039 dalle 9 alle 18.", 1),
        ("Vai su www.cliclavoro.gov.it e cerca il centro.", 1),
        ("Titolo senza punto\nPrima frase. Seconda frase!", 3),
        ("Davvero?! Sì...", 2),
        ("", 0),
    ],
)
def test_sentence_ends(text: str, sentences: int) -> None:
    assert counts(text).sentences == sentences


def test_no_words_has_no_index() -> None:
    assert gulpease("  ... ") is None
    assert level(None) == "-"
