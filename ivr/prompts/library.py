"""Prompt texts -> 8 kHz WAV files Asterisk can play, and the media URIs that name them.

A fresh install must speak Italian without anyone recording anything, so every prompt's text is
synthesised with espeak-ng; a recorded file dropped into the custom directory under the same name
replaces the synthetic one. Texts may name values from the configuration ({hours}, {service}), so
what the line says about itself always matches how it is configured. Files are rebuilt only when
their text, voice or recorded source changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ivr.asterisk.access import share_with_asterisk
from ivr.configfile import ConfigError, Layered, load_mapping, validate

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac", ".gsm", ".ul", ".al", ".sln")


class Counted(BaseModel):
    """A family of prompts for a count: `<name>_0` ... `<name>_<max>`; the last one also says
    "more than" when the count is larger. Texts by count, `n` for the general case."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int = Field(0, ge=0)
    max: int = Field(ge=1, le=200)
    texts: dict[str, str]

    def text(self, count: int) -> str:
        template = self.texts.get(str(count)) or self.texts.get("n")
        if template is None:
            raise PromptError(f"no text for {count} (add an 'n' text)")
        return template.format(n=count)


class PromptCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    prompts: dict[str, str]
    counted: dict[str, Counted] = Field(default_factory=dict)

    def expanded(self) -> dict[str, str]:
        """Every prompt name with its text template, counted families written out."""
        out = dict(self.prompts)
        for base, family in self.counted.items():
            for count in range(family.min, family.max + 1):
                out[f"{base}_{count}"] = family.text(count)
        return out

    @classmethod
    def load(cls, path: Path) -> PromptCatalog:
        data, origins = load_mapping(path)
        return validate(cls, Layered(data, origins))


class PromptError(Exception):
    pass


@dataclass(frozen=True)
class BuiltPrompt:
    name: str
    path: Path
    source: str  # "espeak" or the recorded file it came from
    rebuilt: bool


class PromptLibrary:
    def __init__(
        self,
        catalog: PromptCatalog,
        *,
        build_dir: Path,
        custom_dir: Path,
        asterisk_dir: str,
        variables: Mapping[str, str] | None = None,
        extra: Mapping[str, str] | None = None,
        voice: str = "it",
        speed_wpm: int = 150,
        fallback: PromptLibrary | None = None,
    ) -> None:
        """`extra`: prompts whose text comes from elsewhere in the config (closure messages).
        `fallback`: for another language, the line's own library, which speaks what this one
        has no text for (a closure's message written in Italian)."""
        clash = set(extra or {}) & set(catalog.expanded())
        if clash:
            raise ConfigError([f"prompt names defined twice: {', '.join(sorted(clash))}"])
        self.catalog = catalog
        self.extra = dict(extra or {})
        self._templates = catalog.expanded()
        self.build_dir = build_dir
        self.custom_dir = custom_dir
        self.asterisk_dir = asterisk_dir.rstrip("/")
        self.variables = dict(variables or {})
        self.voice = voice
        self.speed = speed_wpm
        self._audio_hashes: dict[str, str] = {}
        self.fallback = fallback

    @property
    def version(self) -> str:
        return self.catalog.version

    def names(self) -> set[str]:
        return set(self._templates) | set(self.extra)

    def counted(self, base: str, count: int) -> str:
        """The prompt saying `count` in family `base` (clamped to the family's range)."""
        family = self.catalog.counted.get(base)
        if family is None and self.fallback is not None:
            return self.fallback.counted(base, count)
        if family is None:
            raise PromptError(f"unknown counted prompt {base!r}")
        return f"{base}_{min(max(count, family.min), family.max)}"

    def text(self, name: str) -> str:
        if name in self.extra:
            return self.extra[name]
        try:
            template = self._templates[name]
        except KeyError:
            raise PromptError(f"unknown prompt {name!r}") from None
        try:
            return template.format_map(self.variables)
        except KeyError as exc:
            raise PromptError(f"prompt {name!r} names {{{exc.args[0]}}}, which the config does not define") from None

    def media(self, name: str) -> str:
        """The ARI media URI for a prompt (an absolute path, as Asterisk sees it)."""
        if name not in self._templates and name not in self.extra:
            if self.fallback is not None:
                return self.fallback.media(name)
            raise PromptError(f"unknown prompt {name!r}")
        return f"sound:{self.asterisk_dir}/{name}"

    def evidence(self, name: str) -> str:
        """What exactly a caller heard: name, text version and a hash of the audio file."""
        if name not in self._audio_hashes:
            try:
                digest = hashlib.sha256((self.build_dir / f"{name}.wav").read_bytes()).hexdigest()
            except OSError:
                digest = "unbuilt"
            self._audio_hashes[name] = digest
        return f"{name}@{self.version}#{self._audio_hashes[name][:12]}"

    def check(self) -> list[str]:
        """Every problem that would stop a build, without building."""
        problems = []
        for name in sorted(self.names()):
            try:
                self.text(name)
            except PromptError as exc:
                problems.append(str(exc))
        return problems

    # --- building -----------------------------------------------------------------------------

    def build(self) -> list[BuiltPrompt]:
        problems = self.check()
        if problems:
            raise ConfigError(problems)
        self.build_dir.mkdir(parents=True, exist_ok=True)
        manifest_path = self.build_dir / "manifest.json"
        try:
            manifest: dict[str, str] = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            manifest = {}
        built: list[BuiltPrompt] = []
        for name in sorted(self.names()):
            custom = self._custom_file(name)
            fingerprint = self._fingerprint(name, custom)
            target = self.build_dir / f"{name}.wav"
            if manifest.get(name) == fingerprint and target.exists():
                built.append(BuiltPrompt(name, target, str(custom) if custom else "espeak", False))
                continue
            if custom is not None:
                _convert(custom, target)
            else:
                self._synthesise(self.text(name), target)
            manifest[name] = fingerprint
            self._audio_hashes.pop(name, None)
            built.append(BuiltPrompt(name, target, str(custom) if custom else "espeak", True))
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        return built

    def install(self, target_dir: Path) -> int:
        """Copy the built files where Asterisk reads them; returns how many changed."""
        target_dir.mkdir(parents=True, exist_ok=True)
        share_with_asterisk(target_dir)
        changed = 0
        for name in self.names():
            source = self.build_dir / f"{name}.wav"
            dest = target_dir / f"{name}.wav"
            if dest.exists() and dest.read_bytes() == source.read_bytes():
                share_with_asterisk(dest)  # an older install may have left it readable by all
                continue
            tmp = dest.with_suffix(".tmp")
            shutil.copyfile(source, tmp)
            share_with_asterisk(tmp)
            tmp.replace(dest)
            changed += 1
        return changed

    def build_one(self, name: str, text: str, target_dir: Path) -> Path:
        """Synthesise a prompt decided at run time (a closure's message) straight into place."""
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{name}.wav"
        self._synthesise(text, target)
        share_with_asterisk(target)
        return target

    def _custom_file(self, name: str) -> Path | None:
        for suffix in AUDIO_SUFFIXES:
            candidate = self.custom_dir / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
        return None

    def _fingerprint(self, name: str, custom: Path | None) -> str:
        digest = hashlib.sha256()
        if custom is not None:
            digest.update(b"custom:" + custom.read_bytes())
        else:
            digest.update(f"espeak:{self.voice}:{self.speed}:{self.text(name)}".encode())
        return digest.hexdigest()

    def _synthesise(self, text: str, target: Path) -> None:
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            raise PromptError(
                "espeak-ng is not installed (apt-get install espeak-ng) and no recorded file "
                f"replaces {target.stem!r} in {self.custom_dir}"
            )
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            # The text goes on stdin, never on the command line: a message such as "-f FILE" or
            # "-w FILE" written by a supervisor must be spoken, not read as espeak-ng options.
            _run([espeak, "-v", self.voice, "-s", str(self.speed), "-w", str(raw), "--stdin"], stdin=text)
            _convert(raw, target)


def convert_recording(name: str, source: Path, target_dir: Path, *, longest_s: float) -> Path:
    """A recording a supervisor uploaded (any format sox reads: WAV, MP3, OGG, FLAC...) as the
    line's prompt `name` in `target_dir`; not audio, or longer than `longest_s`, is a PromptError
    and leaves nothing behind."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{name}.wav"
    staged = target_dir / f"{name}.staged.wav"
    try:
        _convert(source, staged)
        with wave.open(str(staged)) as w:
            seconds = w.getnframes() / w.getframerate()
        if seconds > longest_s:
            raise PromptError(f"la registrazione dura {seconds:.0f} s: al massimo {longest_s:.0f}")
        if seconds < 0.5:
            raise PromptError("la registrazione è vuota")
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    staged.replace(target)
    share_with_asterisk(target)
    return target


def _convert(source: Path, target: Path) -> None:
    """Any audio file -> 8 kHz mono 16-bit PCM WAV, the format Asterisk plays without transcoding."""
    sox = shutil.which("sox")
    if sox is None:
        raise PromptError("sox is not installed (apt-get install sox libsox-fmt-all)")
    tmp = target.with_suffix(".part.wav")
    # Absolute paths: a file name starting with "-" must never reach sox as an option.
    fmt = ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"]
    _run([sox, str(source.absolute()), *fmt, str(tmp.absolute())])
    tmp.replace(target)


def _run(cmd: list[str], *, stdin: str | None = None) -> None:
    result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PromptError(f"{Path(cmd[0]).name} failed ({result.returncode}): {result.stderr.strip()[:300]}")
