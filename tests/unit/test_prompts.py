"""Prompt audio: synthesised Italian by default, a recorded file wins, rebuilt only on change."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from ivr.audio import voiced_seconds
from ivr.configfile import ConfigError
from ivr.prompts.library import PromptCatalog, PromptLibrary

REPO = Path(__file__).resolve().parents[2]


def library(tmp_path: Path, prompts: dict[str, str], **variables: str) -> PromptLibrary:
    (tmp_path / "custom").mkdir(exist_ok=True)
    return PromptLibrary(
        PromptCatalog(version="1", prompts=prompts),
        build_dir=tmp_path / "build",
        custom_dir=tmp_path / "custom",
        asterisk_dir="/var/lib/x/prompts/",
        variables=variables,
    )


def wav_format(path: Path) -> tuple[int, int, int]:
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth()


def test_synthesised_prompt_is_8khz_speech(tmp_path: Path) -> None:
    lib = library(tmp_path, {"welcome": "Benvenuto al {service}."}, service="Numero per il lavoro")
    (built,) = lib.build()
    assert built.rebuilt and built.source == "espeak"
    assert wav_format(built.path) == (8000, 1, 2)
    assert voiced_seconds(built.path) > 1.0
    assert lib.media("welcome") == "sound:/var/lib/x/prompts/welcome"


def test_rebuilds_only_what_changed(tmp_path: Path) -> None:
    lib = library(tmp_path, {"a": "Uno.", "b": "Due."})
    lib.build()
    assert [b.rebuilt for b in lib.build()] == [False, False]
    lib2 = library(tmp_path, {"a": "Uno.", "b": "Due e tre."})
    assert {b.name: b.rebuilt for b in lib2.build()} == {"a": False, "b": True}


def test_recorded_file_replaces_the_synthetic_one(tmp_path: Path) -> None:
    lib = library(tmp_path, {"welcome": "Benvenuto."})
    lib.build()
    recorded = tmp_path / "custom" / "welcome.wav"
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", str(recorded), "synth", "1.5", "sine", "440"], check=True)
    (built,) = lib.build()
    assert built.rebuilt and built.source == str(recorded)
    assert wav_format(built.path) == (8000, 1, 2)
    assert 1.4 < voiced_seconds(built.path) <= 1.5


def test_install_copies_only_changes(tmp_path: Path) -> None:
    lib = library(tmp_path, {"a": "Uno."})
    lib.build()
    assert lib.install(tmp_path / "asterisk") == 1
    assert lib.install(tmp_path / "asterisk") == 0
    assert (tmp_path / "asterisk" / "a.wav").read_bytes() == (tmp_path / "build" / "a.wav").read_bytes()


def test_unknown_variable_is_a_config_error(tmp_path: Path) -> None:
    lib = library(tmp_path, {"closed": "Aperto {hourz}."})
    with pytest.raises(ConfigError) as err:
        lib.build()
    assert "names {hourz}" in err.value.problems[0]


def test_shipped_texts_load() -> None:
    catalog = PromptCatalog.load(REPO / "config" / "prompts" / "it.yaml")
    assert {"welcome", "goodbye", "service_unavailable"} <= set(catalog.prompts)


def test_tools_are_present() -> None:
    assert shutil.which("espeak-ng") and shutil.which("sox"), "setup installs espeak-ng and sox"
