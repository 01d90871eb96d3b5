"""The Asterisk root: a minimal Debian sid tree (debootstrap) holding Asterisk 22 and its sounds.

Debian 12 has no Asterisk package; sid has 22. Building the tree takes about a minute and half a
gigabyte, so it is built once per recipe and kept in a cache directory outside the checkout,
named by a hash of the recipe so a changed recipe builds a new tree instead of reusing a stale one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Bump when the post-install steps below change meaning.
RECIPE_VERSION = 3
# The account Asterisk runs as inside the root (created by Debian's asterisk package).
RUN_USER = "asterisk"
# Debian's package gives that account a small system id, which on the host usually belongs to
# someone else (PostgreSQL's account, say): a compromised Asterisk could then signal or trace
# that account's processes, and that account could read Asterisk's files. The account is moved
# to the first id from here that no host account or group uses.
RUN_ID_FIRST = 60100
RUN_ID_LAST = 60999
PACKAGES = (
    "asterisk",
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-it-wav",
    "asterisk-moh-opsound-wav",
)


class RootBuildError(Exception):
    pass


@dataclass(frozen=True)
class Recipe:
    suite: str = "sid"
    mirror: str = "http://deb.debian.org/debian"
    packages: tuple[str, ...] = PACKAGES
    extra: tuple[str, ...] = field(default_factory=tuple)

    def key(self) -> str:
        text = json.dumps(
            {
                "v": RECIPE_VERSION,
                "suite": self.suite,
                "mirror": self.mirror,
                "packages": sorted(self.packages + self.extra),
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]


class AsteriskRoot:
    def __init__(self, cache_dir: Path, recipe: Recipe | None = None) -> None:
        self.recipe = recipe or Recipe()
        self.cache_dir = cache_dir
        self.path = cache_dir / f"asterisk-root-{self.recipe.key()}"

    @property
    def ready(self) -> bool:
        return (self.path / ".nul-complete").exists()

    def modules_dir(self) -> str:
        """Where the modules are, as seen inside the root (depends on the architecture)."""
        found = sorted(self.path.glob("usr/lib/*/asterisk/modules"))
        if not found:
            raise RootBuildError(f"{self.path}: no asterisk modules directory")
        return "/" + str(found[0].relative_to(self.path))

    def ensure(self) -> Path:
        """Build the root unless a complete one for this recipe is already cached."""
        if self.ready:
            return self.path
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.cache_dir / ".build.lock"):
            if self.ready:  # another process built it while we waited
                return self.path
            self._build()
        return self.path

    def _build(self) -> None:
        if os.geteuid() != 0:
            raise RootBuildError("building the Asterisk root needs root (debootstrap, chroot)")
        debootstrap = shutil.which("debootstrap")
        if debootstrap is None:
            raise RootBuildError("debootstrap is not installed: apt-get install -y debootstrap")
        tmp = self.path.with_name(self.path.name + f".building-{os.getpid()}")
        if tmp.exists():
            shutil.rmtree(tmp)
        packages = ",".join(self.recipe.packages + self.recipe.extra)
        cmd = [
            debootstrap,
            "--variant=minbase",
            f"--include={packages}",
            self.recipe.suite,
            str(tmp),
            self.recipe.mirror,
        ]
        log.info("building the Asterisk root (once): %s", " ".join(cmd))
        # The tree's own modes must not follow a tight umask of the caller (`ivr` runs with 077):
        # Asterisk, once unprivileged, reads its modules and sounds as any user.
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, umask=0o022)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
            shutil.rmtree(tmp, ignore_errors=True)
            raise RootBuildError(f"debootstrap failed ({result.returncode}):\n{tail}")
        _post_install(tmp)
        uid, gid = account(tmp, RUN_USER)
        (tmp / ".nul-complete").write_text(json.dumps({"recipe": self.recipe.key(), "run_ids": [uid, gid]}))
        tmp.rename(self.path)
        log.info("Asterisk root ready at %s", self.path)


def _post_install(root: Path) -> None:
    sounds = root / "usr/share/asterisk/sounds"
    # Channels speak language "it"; the Italian sounds ship under their voice's name.
    italian = sounds / "it"
    if not italian.exists() and (sounds / "it_IT_m_Carlo").is_dir():
        italian.symlink_to("it_IT_m_Carlo")
    # The stock config in /etc/asterisk is never used: each instance has its own directory.
    (root / "etc/asterisk/README.nul").write_text("Instances use /etc/asterisk-<name>/.\n")
    _move_run_account(root)


def account(root: Path, name: str) -> tuple[int, int]:
    """(uid, gid) of an account of the root, read from the root's own /etc/passwd."""
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise RootBuildError(f"{root}: no account {name!r} in etc/passwd (is the asterisk package installed?)")


def host_ids() -> tuple[set[int], set[int]]:
    """The uids and gids of this machine's own accounts and groups."""
    users = {int(f[2]) for f in _records(Path("/etc/passwd")) if len(f) > 2 and f[2].isdigit()}
    groups = {int(f[2]) for f in _records(Path("/etc/group")) if len(f) > 2 and f[2].isdigit()}
    return users, groups


def _records(path: Path) -> list[list[str]]:
    try:
        return [line.split(":") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    except FileNotFoundError:
        return []


def _move_run_account(root: Path) -> None:
    old_uid, old_gid = account(root, RUN_USER)
    users, groups = host_ids()
    inner_users = {int(f[2]) for f in _records(root / "etc/passwd") if len(f) > 2 and f[2].isdigit()}
    inner_groups = {int(f[2]) for f in _records(root / "etc/group") if len(f) > 2 and f[2].isdigit()}
    taken = users | groups | inner_users | inner_groups
    new = next((i for i in range(RUN_ID_FIRST, RUN_ID_LAST + 1) if i not in taken), None)
    if new is None:
        raise RootBuildError(f"no free id in {RUN_ID_FIRST}-{RUN_ID_LAST} for the {RUN_USER!r} account")
    _rewrite_ids(root / "etc/passwd", RUN_USER, {2: new, 3: new})
    _rewrite_ids(root / "etc/group", RUN_USER, {2: new})
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if st.st_uid == old_uid or st.st_gid == old_gid:
                uid = new if st.st_uid == old_uid else -1
                gid = new if st.st_gid == old_gid else -1
                os.lchown(path, uid, gid)
    log.info("Asterisk runs as %r, uid and gid %d", RUN_USER, new)


def _rewrite_ids(path: Path, name: str, fields: dict[int, int]) -> None:
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        parts = line.split(":")
        if parts[0] == name:
            for index, value in fields.items():
                parts[index] = str(value)
            lines[i] = ":".join(parts)
    path.write_text("\n".join(lines) + "\n")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
