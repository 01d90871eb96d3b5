"""Hypothesis strategies shared by the fuzz tests: arbitrary JSON, hostile text, and the budget."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# IVR_FUZZ_EXAMPLES raises the number of inputs per test for a long run; the default keeps the
# fast suite fast.
EXAMPLES = int(os.environ.get("IVR_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    database=None,  # a run is reproducible from its seed; no example database left in the tree
)

HUGE = "9" * 10_000
# Built, not listed: the strategy's repr stays short in reports.
HOSTILE_TEXT = st.builds(lambda: HUGE) | st.sampled_from(
    [
        "",
        " ",
        "x" * 65,
        "\x00",
        "a\x00b",
        "\x1b[2J\x1b[31mrosso",
        "\r\n\t\x7f",
        "'; DROP TABLE tickets; --",
        '" OR 1=1 --',
        "Robert'); DELETE FROM tickets WHERE ('1'='1",
        "%s%s%n",
        "{0}{1}",
        "${jndi:ldap://x}",
        "<script>alert(1)</script>",
        "Ñandú 中文 العربية 🙂",
        "\u202eevil",
        "\ufeff",
        "\ud800",  # a lone surrogate: not encodable as UTF-8
    ]
)
TEXT = st.one_of(HOSTILE_TEXT, st.text(max_size=20), st.text(st.characters(codec="utf-8"), max_size=80))
KEYS = st.one_of(st.sampled_from(["id", "type", "", "\x00", "name"]), st.text(max_size=6))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**70),
    st.floats(allow_nan=False),
    TEXT,
)


def json_values(max_leaves: int = 6) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
        max_leaves=max_leaves,
    )


JSON = json_values()
