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


def test_a_threshold_section_shows_its_own_defaults_and_meaning() -> None:
    """`alerts.longest_wait_s` is an `{amber, red}` pair whose defaults the field gives, not the
    pair's class (which has none): the reference says the field's."""
    ref = markdown(Settings)
    assert (
        "| `alerts.longest_wait_s.amber` | float or null | `90.0` | a caller waiting in the queue this long (amber) |"
        in ref
    )
    assert "| `alerts.service_level.red` | float or null | `0.6` |" in ref
