"""What every soak caller shares: the carrier, the line's number, the sounds a caller's ear
knows (the line's prompts in each language, each operator's voice, the beep) and the citizens'
side of the carrier's phones, where the line's dial-backs for queued callbacks arrive."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ivr.lab.carrier import LabCarrier
from ivr.lab.soak.citizen import OPERATOR, CallbackPhones
from ivr.lab.soak.ear import OPENING_S, load_wav, opening, tone

BEEP = "beep"


@dataclass(frozen=True)
class LinePrompts:
    """Which of the line's prompts mark where a call is (names as in the prompt catalogue)."""

    consent: str = "consent_notice"
    menu: str = "menu_main"
    queue: str = "queue_enter"
    survey_intro: str = "survey_intro"
    survey_questions: tuple[str, ...] = ("survey_satisfaction", "survey_solved")
    leave_key: str = "9"
    welcome: str = "welcome"  # the line's welcome, in the service language (the language key works during it)
    language_offer: str = "language_offer"  # "For English, press 9", in the language offered
    # Known by their first half second: the line waits only a moment after the language offer
    # (`ivr.callflows.language.GRACE_S`), and a whole second of it heard, read late from the
    # carrier's recording, left the caller's key past that moment on the real line.
    quick: tuple[str, ...] = ("language_offer",)
    quick_s: float = 0.5
    callback_offer: str = "queue_callback_offer"
    callback_key: str = "2"  # queue.callback_key
    number_confirm: str = "vm_callback_confirm"  # after the number read back: 1 yes, 2 another
    confirm_key: str = "1"
    change_key: str = "2"
    number_enter: str = "vm_callback_enter"
    number_invalid: str = "vm_callback_invalid"
    callback_booked: str = "queue_callback_booked"
    callback_no_number: str = "queue_callback_no_number"
    callback_notice: str = "callback_citizen_notice"

    def names(self) -> list[str]:
        return [self.consent, self.menu, self.queue, self.survey_intro, *self.survey_questions]

    def dialogue(self) -> list[str]:
        """What a caller asking for a callback listens for in the queue."""
        return [
            self.callback_offer,
            self.number_confirm,
            self.number_enter,
            self.number_invalid,
            self.callback_booked,
            self.callback_no_number,
        ]


def named(language: str, prompt: str, service: str = "it") -> str:
    """A prompt's reference name: the service language's plain, another's `<code>:<prompt>`
    (built in the `<code>` subfolder of the prompts, `ivr.factories.make_language_prompts`)."""
    return prompt if language == service else f"{language}:{prompt}"


def language_of(name: str, service: str = "it") -> str:
    code, sep, _ = name.partition(":")
    return code if sep and code != OPERATOR.rstrip(":") else service


@dataclass
class CallerKit:
    """What every soak caller shares: the carrier, the line's number, the sounds to recognise."""

    carrier: LabCarrier
    did: str
    prompts_dir: Path  # the engine's built prompts (`prompts.build_dir`), 8 kHz WAVs
    operator_voices: dict[str, Path]  # login -> the WAV that operator's phone plays when talking
    speech: Path  # what a caller says into a voicemail (8 kHz mono WAV)
    line: LinePrompts = field(default_factory=LinePrompts)
    max_call_s: float = 180.0  # a caller left with nothing to do hangs up after this
    service_language: str = "it"  # the line's own language; others' prompts are in prompts_dir/<code>
    callback_wait_s: float = 300.0  # a citizen waits this long for the line to call back
    phones: CallbackPhones | None = None  # the citizens' side of the carrier's phones (installed if None)
    _refs: dict[str, np.ndarray] = field(default_factory=dict)
    _speech_media: str | None = None

    def __post_init__(self) -> None:
        if self.phones is None:
            self.phones = CallbackPhones.install(self.carrier)

    def references(self, prompts: Iterable[str] = ()) -> dict[str, np.ndarray]:
        """The line's landmark prompts in the service language, every operator's voice and the
        beep, plus `prompts` (reference names, see `named`); each loaded once per kit."""
        if not self._refs:
            for login, wav in self.operator_voices.items():
                self._refs[OPERATOR + login] = opening(load_wav(wav))
            self._refs[BEEP] = tone(700.0, 0.3)
        wanted = [*self.line.names(), *prompts]
        for name in wanted:
            if name not in self._refs:
                code, sep, prompt = name.partition(":")
                path = self.prompts_dir / code / f"{prompt}.wav" if sep else self.prompts_dir / f"{name}.wav"
                seconds = self.line.quick_s if (prompt if sep else name) in self.line.quick else OPENING_S
                self._refs[name] = opening(load_wav(path), seconds)
        return {n: r for n, r in self._refs.items() if n in wanted or n == BEEP or n.startswith(OPERATOR)}

    def recordings_dir(self) -> Path:
        """Where the carrier's Asterisk keeps recordings (a citizen's phone records its legs)."""
        return self.carrier.instance.host("spool") / "recording"

    def speech_media(self) -> str:
        if self._speech_media is None:
            self._speech_media = self.carrier.add_voice("soak-caller-speech", self.speech)
        return self._speech_media
