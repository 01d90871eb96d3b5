"""Synthesised text is data, never options: a closure message that looks like espeak-ng options
(`-f FILE` reads a file aloud, `-w FILE` writes anywhere, `--help`) is spoken as written.

The real synthesis path (the one closures use, `build_one`) with the real espeak-ng and sox; the
proof is the audio's length: the literal text is a few seconds, a file read aloud is far longer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.audio import duration_s, voiced_seconds
from ivr.prompts.library import PromptCatalog, PromptLibrary


def library(tmp_path: Path) -> PromptLibrary:
    (tmp_path / "custom").mkdir(exist_ok=True)
    return PromptLibrary(
        PromptCatalog(version="1", prompts={"welcome": "Benvenuto."}),
        build_dir=tmp_path / "build",
        custom_dir=tmp_path / "custom",
        asterisk_dir="/var/lib/x/prompts/",
    )


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A file an attacker would like to hear: a minute and more when read aloud."""
    path = tmp_path / "secrets.yaml"
    path.write_text("".join(f"password_{i}: segreto numero {i} della centrale\n" for i in range(40)))
    return path


@pytest.mark.parametrize("text", ["-f/etc/passwd", "-f{secret}", "--help", "-w {elsewhere}", "--stdout -f {secret}"])
def test_option_like_text_is_spoken_literally(tmp_path: Path, secret_file: Path, text: str) -> None:
    lib = library(tmp_path)
    out = tmp_path / "closures"
    elsewhere = tmp_path / "x.wav"
    text = text.format(secret=secret_file, elsewhere=elsewhere)
    # A harmless text of the same length, said the same way, is the yardstick.
    harmless = lib.build_one("reference", "a" * len(text), out)
    spoken = lib.build_one("closure_1", text, out)
    assert voiced_seconds(spoken) > 0.2  # something was said...
    assert duration_s(spoken) < 3 * duration_s(harmless) + 2.0  # ...and only the text itself
    assert not elsewhere.exists()  # `-w` was words, not a place to write


def test_the_secret_file_read_aloud_would_be_long(tmp_path: Path, secret_file: Path) -> None:
    """Keeps the bound above meaningful: the file's content spoken takes far longer."""
    spoken = library(tmp_path).build_one("whole", secret_file.read_text(), tmp_path / "closures")
    assert duration_s(spoken) > 60
