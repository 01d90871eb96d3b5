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
RECIPE_VERSION = 2
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
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
            shutil.rmtree(tmp, ignore_errors=True)
            raise RootBuildError(f"debootstrap failed ({result.returncode}):\n{tail}")
        _post_install(tmp)
        (tmp / ".nul-complete").write_text(json.dumps({"recipe": self.recipe.key()}))
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


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
