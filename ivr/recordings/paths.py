"""Where the line's audio may be: the one rule asked before a file a database row names is served
or deleted.

A row's path is data, not a promise: a database restored from a forged backup, or edited by hand,
can name any file on the machine. Served by the console that is a download of `/etc/shadow`;
deleted by the retention purge (the engine often runs as root) it is a broken host. So a path is
used only when, with every symbolic link followed, it lies below one of the audio folders.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from ivr.settings import Settings

log = logging.getLogger(__name__)


def recordings_dir(settings: Settings) -> Path:
    return settings.paths.recordings_dir or settings.paths.data_dir / "recordings"


def audio_dirs(settings: Settings) -> tuple[Path, ...]:
    """Every folder the engine keeps audio in: voicemail messages and campaign recordings."""
    return (settings.voicemail_dir, recordings_dir(settings))


def inside(path: Path, dirs: Iterable[Path]) -> bool:
    """True when `path`, links followed, is below one of `dirs` (links followed too)."""
    real = Path(path).resolve()
    return any(real.is_relative_to(Path(d).resolve()) for d in dirs)


def confined(paths: Iterable[str | None], dirs: Iterable[Path], *, what: str) -> list[Path]:
    """The paths that may be used, in order; each refused one is logged with `what` (the row it
    came from) so a tampered database shows in the log instead of failing silently."""
    roots = tuple(dirs)
    kept: list[Path] = []
    for raw in paths:
        if not raw:
            continue
        path = Path(raw)
        if inside(path, roots):
            kept.append(path)
        else:
            log.warning("%s names a file outside the audio folders; refused: %s", what, path)
    return kept
