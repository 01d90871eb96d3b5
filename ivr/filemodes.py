"""The engine's own files are its own: recordings, voicemail, databases, logs, secrets.

Callers' voices, transcripts and ticket databases must not be readable by whoever else has an
account on the machine. Every `ivr` command runs with a umask of 077, so what it creates is
0600 (directories 0700) whatever the file's writer asks for; at start, what an older install
left readable to others is tightened the same way. Files Asterisk must read (its config,
prompts) are not here: they go to Asterisk's group (`ivr.asterisk.access`).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import make_url

from ivr.settings import Settings

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
_OTHERS = 0o077  # group and other bits


def private_umask() -> int:
    """From here on, new files and directories of this process and its children are private;
    returns the umask it replaces."""
    return os.umask(PRIVATE_UMASK)


def private_paths(settings: Settings) -> list[Path]:
    """Where the engine keeps data about callers, and its logs and secrets."""
    paths = [
        settings.paths.data_dir,
        settings.voicemail_dir,
        settings.models_dir,
        settings.prompts_build_dir,
        settings.stats.opendata_path(settings.paths.data_dir),
        settings.outbox_path,
        settings.secrets_file,
    ]
    if settings.logging.file is not None:
        paths.append(settings.logging.file)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        paths.append(Path(url.database))
    return paths


def tighten(paths: Iterable[Path], *, keep: Iterable[Path] = ()) -> int:
    """Take group and other bits off these files and directories (recursively); returns how many
    changed. Symbolic links are not followed (a model folder may link into a package); `keep`
    are left as they are, with what is below them (files another program reads)."""
    kept = {p.resolve() for p in keep}
    changed = 0
    for top in paths:
        if not top.exists() or top.is_symlink() or top.resolve() in kept:
            continue
        changed += _strip(top)
        if not top.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if (here / d).resolve() not in kept]
            for name in dirnames + filenames:
                path = here / name
                if not path.is_symlink() and not (kept and path.resolve() in kept):
                    changed += _strip(path)
    if changed:
        log.info("file modes: %d files and directories made private (no group or other access)", changed)
    return changed


def _strip(path: Path) -> int:
    mode = stat.S_IMODE(path.lstat().st_mode)
    if not mode & _OTHERS:
        return 0
    os.chmod(path, mode & ~_OTHERS)
    return 1


def secure_data(settings: Settings) -> None:
    """Create the data directory private, and tighten what an older install left open."""
    data_dir = settings.paths.data_dir
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keep = [Path(settings.prompts.install_dir)] if settings.prompts.install_dir is not None else []
    if settings.asterisk.operators_conf is not None:
        keep.append(settings.asterisk.operators_conf)
    tighten(private_paths(settings), keep=keep)
