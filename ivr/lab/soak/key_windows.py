"""How long the line takes a key it asks for, counted from the beginning of the prompt that asks,
by the line's own configuration and the prompts' lengths: what a caller's press is held against
(`ivr.lab.soak.journal.KeyPress.window_s`).

- The consent notice (`ivr.recordings.consent`): a key counts while the notice plays and for the
  consent node's `timeout_s` after it; then the line records no answer and goes on to the menu,
  where a late key is taken as a menu choice (full run 6, ticket 622: the notice began at
  20:12:32.6, no answer at 20:12:45.7, the caller's key reached the menu at 20:12:48.3).
- The language offer (`ivr.callflows.language`): a key counts during the welcome and the offers,
  for `GRACE_S` after them, and for `LATE_S` more at the next question (the notice, the menu),
  where it means nothing else. Counted from the welcome, or from an offer when the caller knew
  the line by that.
- The survey's questions (`ivr.survey.step`): a key counts while the question plays and for the
  survey node's `timeout_s` after it; then the line skips the question and asks the next, which a
  later key answers instead (full run 6, ticket 100: the 4 meant for the first question came
  18 s after the survey began, 2 s after the line had skipped it, and was refused by the second).
  A key during the introduction stops it and waits for the first question: the introduction's
  window runs on to the end of the first question's.
"""

from __future__ import annotations

import wave
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ivr.callflows.language import GRACE_S, LATE_S
from ivr.callflows.model import ConsentNode, Flow, PlayNode, SurveyNode, load_flow
from ivr.lab.soak.kit import named

OFFER = "language_offer"  # the prompt each other language offers itself with (ivr.callflows.language)


def prompt_seconds(prompts_dir: Path, code: str, prompt: str, service: str) -> float:
    """How long the line plays `prompt` in language `code` (its built WAV, silences included:
    the line waits for the whole file before its timeout begins)."""
    path = prompts_dir / f"{prompt}.wav" if code == service else prompts_dir / code / f"{prompt}.wav"
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def offered_languages(prompts_dir: Path) -> list[str]:
    """The languages the line offers, as its built prompts show them: a folder per language with
    its offer in it."""
    return sorted(p.name for p in prompts_dir.iterdir() if (p / f"{OFFER}.wav").is_file())


def line_key_windows(
    flow: Flow,
    prompts_dir: Path,
    service: str,
    languages: Sequence[str] | None = None,
    notices: Iterable[str] = ("consent_notice",),
) -> dict[str, float]:
    """For each prompt (by reference name, `ivr.lab.soak.kit.named`) that asks for a key, how
    long from its beginning the line takes it. `languages`: the offered ones in the order the
    line offers them (default: those with built prompts); `notices`: the campaigns' notices."""
    codes = offered_languages(prompts_dir) if languages is None else list(languages)
    every = [service, *codes]
    out: dict[str, float] = {}
    for node in flow.nodes.values():
        if isinstance(node, ConsentNode):
            for notice in notices:
                for code in every:
                    name = named(code, notice, service)
                    seconds = prompt_seconds(prompts_dir, code, notice, service) + node.timeout_s
                    out[name] = max(out.get(name, 0.0), seconds)
        elif isinstance(node, PlayNode) and node.languages and codes:
            offers = [prompt_seconds(prompts_dir, code, OFFER, service) for code in codes]
            after = GRACE_S + LATE_S
            out[node.prompt] = prompt_seconds(prompts_dir, service, node.prompt, service) + sum(offers) + after
            for i, code in enumerate(codes):
                out[named(code, OFFER, service)] = sum(offers[i:]) + after
        elif isinstance(node, SurveyNode):
            for code in every:
                out |= _survey_windows(node, prompts_dir, code, service)
    return out


def _survey_windows(node: SurveyNode, prompts_dir: Path, code: str, service: str) -> dict[str, float]:
    """The survey's windows in language `code`; none where the line has no such prompt built."""
    try:
        asked = [prompt_seconds(prompts_dir, code, q.prompt, service) + node.timeout_s for q in node.questions]
        out = {named(code, q.prompt, service): s for q, s in zip(node.questions, asked, strict=True)}
        if node.intro_prompt:
            out[named(code, node.intro_prompt, service)] = (
                prompt_seconds(prompts_dir, code, node.intro_prompt, service) + asked[0]
            )
    except FileNotFoundError:
        return {}
    return out


def engine_key_windows(config: Mapping[str, Any], prompts_dir: Path) -> dict[str, float]:
    """`line_key_windows` of an engine's configuration as written for it (the soak's engines):
    its call flow, service language, offered languages and campaigns' notices."""
    prompts = config.get("prompts") or {}
    languages = list(prompts["languages"]) if prompts.get("languages") else None
    notices = {c.get("notice_prompt", "consent_notice") for c in config.get("campaigns") or []} or {"consent_notice"}
    service = str((config.get("service") or {}).get("language", "it"))
    return line_key_windows(load_flow(Path(config["callflow"])), prompts_dir, service, languages, sorted(notices))
