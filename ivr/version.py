"""The release this code is, from the installed package's metadata (pyproject.toml's version)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _metadata_version

PACKAGE = "nul-ivr"


def version() -> str:
    try:
        return _metadata_version(PACKAGE)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
