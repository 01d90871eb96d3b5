"""What every soak caller shares: the carrier, the line's number, the sounds a caller's ear
knows (the line's prompts in each language, each operator's voice, the beep) and the citizens'
side of the carrier's phones, where the line's dial-backs for queued callbacks arrive."""

from __future__ import annotations

import wave
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ivr.lab.carrier import LabCarrier
from ivr.lab.soak.checks_calls import EAR_S
from ivr.lab.soak.citizen import OPERATOR, CallbackPhones
from ivr.lab.soak.ear import OPENING_S, RATE, SLIP, Spectra, lead, load_wav, opening, tone

BEEP = "beep"


def operator_phrase(name: str) -> str:
    """What a simulated operator says, again and again while talking (`talking_voice`): their
    name and surname, nothing else. Short, because a citizen called back joins an operator who
    has been talking since before the callback notices and must hear a whole opening soon; and
    with no word two operators share, because the ear knows an operator by the phrase's first
    second, and a shared word lets it take one operator for another (measured: the ear given
    "<name>, buongiorno." of five operators and joining the talk at moments 0.1 s apart took
    another operator for the one talking in up to all of the joins, by the "buongiorno" they all
    say; "<name> <surname>." was taken for nobody else)."""
    return f"{name}."


def talking_voice(phrase: Path, target: Path, seconds: float, lead_s: float = 0.0) -> Path:
    """`phrase` said again and again, with no pause but its own, for `seconds` after `lead_s` of
    silence: an operator who keeps talking. Whoever joins the talk at any moment hears a whole
    opening of the phrase within the checker's `EAR_S` (a queued callback's citizen is connected
    seconds into it: in soak run 8 the softphone's greeting, said once, was over by then; a
    phrase of 3 s with a pause of 1 s, as the outside numbers said it, leaves joins of several
    seconds with no opening in them). A phrase too long for that is refused: the checker could
    not tell a silent line from one the citizen joined between two openings."""
    samples = load_wav(phrase)
    within_ear(phrase, len(samples) / RATE, "a phrase")
    count = int(np.ceil(seconds * RATE / len(samples)))
    return write_pcm16(target, np.concatenate([np.zeros(int(lead_s * RATE)), np.tile(samples, count)]))


def within_ear(source: Path, loop_s: float, what: str) -> None:
    """Refuses a voice said again and again every `loop_s` whose openings are too far apart for
    the checker's `EAR_S`: joined just after one began, the ear must hear the next whole opening
    in time (CI's short soak: a desk microphone looping 2 s of silence around the name left a
    caller hanging up 3.0 s after the answer with 0.8 s of the voice heard)."""
    longest = loop_s + SLIP / RATE + OPENING_S
    if longest > EAR_S:
        raise ValueError(
            f"{source}: {what} of {loop_s:.2f} s leaves {longest:.2f} s between a join and the "
            f"end of the next opening heard, more than the checker's {EAR_S:g} s"
        )


def write_pcm16(target: Path, samples: np.ndarray) -> Path:
    """`samples` as a 16-bit mono WAV at the lab's rate (clipped, not wrapped)."""
    with wave.open(str(target), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.clip(samples, -32768, 32767).astype("<i2").tobytes())
    return target


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
    number_read: str = "vm_callback_is"  # "the number is", then its digits (`digit_<d>`)
    number_confirm: str = "vm_callback_confirm"  # after the number read back: 1 yes, 2 another
    confirm_key: str = "1"
    change_key: str = "2"
    number_enter: str = "vm_callback_enter"
    number_invalid: str = "vm_callback_invalid"
    callback_booked: str = "queue_callback_booked"
    callback_no_number: str = "queue_callback_no_number"
    callback_not_booked: str = "queue_callback_not_booked"  # the store away: the caller keeps waiting
    callback_notice: str = "callback_citizen_notice"

    def names(self) -> list[str]:
        return [self.consent, self.menu, self.queue, self.survey_intro, *self.survey_questions]

    def dialogue(self) -> list[str]:
        """What a caller asking for a callback listens for in the queue."""
        return [
            self.callback_offer,
            self.number_read,
            self.number_confirm,
            self.number_enter,
            self.number_invalid,
            self.callback_booked,
            self.callback_no_number,
            self.callback_not_booked,
        ]


def named(language: str, prompt: str, service: str = "it") -> str:
    """A prompt's reference name: the service language's plain, another's `<code>:<prompt>`
    (built in the `<code>` subfolder of the prompts, `ivr.assembly.Assembly.language_prompts`)."""
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
    spectra: Spectra = field(default_factory=Spectra)  # the references' transforms, for every ear
    # How long from a prompt's beginning the line takes the key it asks for (by reference name,
    # `ivr.lab.soak.key_windows`): written with each press, for the checker.
    windows: dict[str, float] = field(default_factory=dict)
    _refs: dict[str, np.ndarray] = field(default_factory=dict)
    _wavs: dict[str, np.ndarray] = field(default_factory=dict)
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
                bare = name.partition(":")[2] or name
                seconds = self.line.quick_s if bare in self.line.quick else OPENING_S
                self._refs[name] = opening(self._prompt_wav(name), seconds)
        return {n: r for n, r in self._refs.items() if n in wanted or n == BEEP or n.startswith(OPERATOR)}

    def digits_between(self, language: str) -> tuple[int, int]:
        """Where the digits read back lie, from where the ear places "the number is" (samples
        after it) and "confirm with 1" (samples before it): a citizen compares what they hear with
        what they typed, and a key lost or doubled on the way (full run 11: 3271324564 arrived as
        3271324, 3310427603 as 33104276003) is a digit less or more (`ear.words` counts them)."""
        read, confirm = self._read_back_frame(language)
        # From within the silence closing "the number is" (0.18 s) to where "confirm" begins.
        return len(read) - lead(read) - int(0.15 * RATE), lead(confirm)

    def read_back_s(self, language: str, digits: str) -> float:
        """How far apart the ear places "the number is" and "confirm with 1" when the line reads
        `digits` back, as played (a loaded recorder drops frames: heard, it is shorter)."""
        read, confirm = self._read_back_frame(language)
        said = sum(len(self._prompt_wav(named(language, f"digit_{d}", self.service_language))) for d in digits)
        return (len(read) - lead(read) + said + lead(confirm)) / RATE

    def _read_back_frame(self, language: str) -> tuple[np.ndarray, np.ndarray]:
        """The prompts around a number read back: "the number is" and "confirm with 1"."""
        line = self.line
        return (
            self._prompt_wav(named(language, line.number_read, self.service_language)),
            self._prompt_wav(named(language, line.number_confirm, self.service_language)),
        )

    def _prompt_wav(self, name: str) -> np.ndarray:
        if name not in self._wavs:
            code, sep, prompt = name.partition(":")
            self._wavs[name] = load_wav(
                self.prompts_dir / code / f"{prompt}.wav" if sep else self.prompts_dir / f"{name}.wav"
            )
        return self._wavs[name]

    def recordings_dir(self) -> Path:
        """Where the carrier's Asterisk keeps recordings (a citizen's phone records its legs)."""
        return self.carrier.instance.host("spool") / "recording"

    def speech_media(self) -> str:
        if self._speech_media is None:
            self._speech_media = self.carrier.add_voice("soak-caller-speech", self.speech)
        return self._speech_media
