"""Files the engine writes for Asterisk to read: its config, the operators' endpoints, prompts.

Asterisk runs as its own unprivileged account while the engine keeps a umask of 077, so what
the engine writes would be unreadable to Asterisk. Such files are given to Asterisk's group
instead of to everyone: the directories they live in belong to that group (the managed
Asterisk's are laid out so when its config is rendered; for an Asterisk run elsewhere, make the
directories group-owned by its group), and each file takes its directory's group.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o640
# setgid: files created inside later start out with the directory's group too.
DIR_MODE = 0o2750


def share_with_asterisk(path: Path) -> None:
    """Readable by the group of the directory `path` is in (Asterisk's), by nobody else."""
    st = path.stat()
    if st.st_uid != os.geteuid() != 0:
        return  # someone else's (an Asterisk run elsewhere): its owner decides its modes
    group = path.parent.stat().st_gid
    if st.st_gid != group:
        os.chown(path, -1, group)
    os.chmod(path, DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE)
