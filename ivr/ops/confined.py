"""Files read from a backup folder and written into the data folder without ever following a
symbolic link below the folder given: every component is opened relative to its parent's
descriptor with O_NOFOLLOW, so a link planted between the check and the use is refused too.

The folder itself (a backup on a mount, a voicemail folder an administrator moved with a link)
is taken as configured; only what is below it is confined.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import BinaryIO


class Refused(Exception):
    """A path that leads out of its folder, or to something that is not a plain file."""


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _step(parent: int, name: str, shown: Path) -> int:
    try:
        return os.open(name, _DIR, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused(f"{shown}: a symlink or not a folder (not followed)") from None
        raise


def _walk_dirs(root: Path, parts: tuple[str, ...], create: bool) -> int:
    """A descriptor of root/parts..., each component a real folder (created if `create`)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    here = root
    try:
        for part in parts:
            here = here / part
            if create:
                with suppress(FileExistsError):  # made earlier: checked below to be a real folder
                    os.mkdir(part, 0o700, dir_fd=fd)
            child = _step(fd, part, here)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(root: Path, rel: PurePosixPath) -> BinaryIO:
    """The plain file root/rel for reading; Refused for a symlink, a folder, a device, a FIFO."""
    fd = _walk_dirs(root, rel.parts[:-1], create=False)
    try:
        try:
            # O_NONBLOCK: a FIFO put in place of a file must not hang the restore
            file = os.open(rel.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise Refused(f"{root / rel}: a symlink (not followed)") from None
            raise
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file).st_mode):
        os.close(file)
        raise Refused(f"{root / rel}: not a plain file")
    os.set_blocking(file, True)
    return os.fdopen(file, "rb")


def target_problem(root: Path, rel: PurePosixPath) -> str | None:
    """Why root/rel cannot be written without following a link, or None. Read-only: for the
    check of the whole restore before anything is written."""
    here = root
    if here.exists() and not here.is_dir():
        return f"{here}: not a folder"
    for index, part in enumerate(rel.parts):
        here = here / part
        try:
            mode = here.lstat().st_mode
        except FileNotFoundError:
            return None  # created by the restore, below a real folder
        if stat.S_ISLNK(mode):
            return f"{here}: a symlink in the destination (the restore does not follow links)"
        last = index == len(rel.parts) - 1
        if not last and not stat.S_ISDIR(mode):
            return f"{here}: not a folder"
        if last and not stat.S_ISREG(mode):
            return f"{here}: exists and is not a plain file"
    return None


@contextmanager
def write_file(root: Path, rel: PurePosixPath) -> Iterator[BinaryIO]:
    """A new private file written beside root/rel and put in its place (atomically) when the
    block ends without error; removed otherwise."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = _walk_dirs(root, rel.parts[:-1], create=True)
    tmp = f".{rel.name}.{os.urandom(6).hex()}.restoring"
    try:
        out = os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd), "wb")
        try:
            with out:
                yield out
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, rel.name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            os.unlink(tmp, dir_fd=fd)
            raise
    finally:
        os.close(fd)


def stray(root: Path, known: set[str]) -> list[str]:
    """Below root, what is not a folder nor named in `known` (posix paths relative to root),
    and every symlink: a backup holds none."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in sorted(dirnames + filenames):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found.append(f"{rel}: a symlink (a backup holds none; not followed)")
            elif name in filenames and rel not in known:
                found.append(f"{rel}: a file the manifest does not name")
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
    return found
