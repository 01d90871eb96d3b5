"""The README's configuration reference is the one the code generates."""

from __future__ import annotations

from pathlib import Path

from ivr.configref import markdown
from ivr.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_readme_config_reference_is_current() -> None:
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- config-reference:start")
    end = readme.index("<!-- config-reference:end -->")
    block = readme[readme.index("\n", start) + 1 : end].strip()
    assert block == markdown(Settings).strip(), "run `ivr config reference` and paste it into README.md"
