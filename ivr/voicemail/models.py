"""Downloading a Vosk model: streamed with progress, checked, unpacked next to the others.

Nothing is left half-done: the archive is checked before unpacking, unpacked into a temporary
folder, and only then moved into place.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ivr.errors import SetupError

Progress = Callable[[int, int | None], None]


class ModelDownloadError(SetupError):
    pass


def progress_bar(stream: IO[str] = sys.stderr) -> Progress:
    def show(done: int, total: int | None) -> None:
        if total:
            filled = int(30 * done / total)
            stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done / 1e6:6.1f} / {total / 1e6:.1f} MB")
        else:
            stream.write(f"\r{done / 1e6:6.1f} MB")
        stream.flush()

    return show


def download_model(
    url: str, folder: str, dest: Path, *, sha256: str | None, progress: Progress | None = None, timeout: float = 60
) -> tuple[Path, str]:
    """Fetch the zip at `url`, check it, unpack `folder` from it into `dest`.

    Returns the model's path and the archive's SHA-256 (worth pinning in the config)."""
    target = dest / folder
    if (target / "am").is_dir():
        raise ModelDownloadError(f"{target} exists already; remove it first to download again")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        archive = Path(tmp) / "model.zip"
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, archive.open("wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                done = 0
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
        except OSError as exc:
            raise ModelDownloadError(f"download of {url} failed: {exc}") from None
        if progress is not None:
            sys.stderr.write("\n")
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256:
            raise ModelDownloadError(f"checksum mismatch for {url}: expected {sha256}, got {actual}; nothing kept")
        try:
            with zipfile.ZipFile(archive) as zipped:
                members = [m for m in zipped.namelist() if m.startswith(f"{folder}/")]
                if not members:
                    raise ModelDownloadError(f"{url}: the archive has no folder {folder!r}")
                for member in members:
                    if ".." in Path(member).parts or member.startswith("/"):
                        raise ModelDownloadError(f"{url}: unsafe path in archive: {member}")
                zipped.extractall(tmp, members)
        except zipfile.BadZipFile:
            raise ModelDownloadError(f"{url}: not a zip archive") from None
        unpacked = Path(tmp) / folder
        if not (unpacked / "am").is_dir() or not (unpacked / "conf").is_dir():
            raise ModelDownloadError(f"{url}: {folder} is not a Vosk model (no am/ or conf/)")
        shutil.move(str(unpacked), target)
    return target, actual
