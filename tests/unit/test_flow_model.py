"""Flow files are validated when loaded: a broken flow never reaches a caller."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.callflows.model import load_flow
from ivr.configfile import ConfigError
from ivr.prompts.library import PromptCatalog

REPO = Path(__file__).resolve().parents[2]


def flow_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text("name: t\nstart: a\nnodes:\n" + body)
    return path


def test_shipped_flow_is_valid() -> None:
    prompts = PromptCatalog.load(REPO / "config" / "prompts" / "it.yaml")
    flow = load_flow(REPO / "config" / "callflows" / "main.yaml", set(prompts.prompts))
    assert flow.start in flow.nodes


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  a: {type: play, prompt: p, next: nowhere}\n", "goes to 'nowhere', which is not a node"),
        (
            "  a: {type: play, prompt: p, next: b}\n  b: {type: hangup}\n  c: {type: hangup}\n",
            "nodes not reachable from start: c",
        ),
        ("  a: {type: dance, next: b}\n", "nodes.a"),
        ("  a: {type: play, prompt: p, next: b, volume: 11}\n  b: {type: hangup}\n", "nodes.a.volume: unknown key"),
        (
            "  a: {type: stub, destination: queue, next: b}\n  b: {type: play, prompt: p, next: c}\n"
            "  c: {type: hangup}\n",
            "a stub node cannot go on to a play node",
        ),
    ],
)
def test_broken_flows_are_refused_with_the_reason(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_flow(flow_file(tmp_path, body), {"p"})
    assert message in "\n".join(err.value.problems)


def test_unknown_prompt_is_refused(tmp_path: Path) -> None:
    path = flow_file(tmp_path, "  a: {type: play, prompt: missing, next: b}\n  b: {type: hangup}\n")
    with pytest.raises(ConfigError) as err:
        load_flow(path, {"p"})
    assert "prompts not in the prompt texts: missing" in err.value.problems[0]


def test_error_names_the_line(tmp_path: Path) -> None:
    path = flow_file(tmp_path, "  a:\n    type: play\n    prompt: p\n    next: b\n    nxt: c\n  b: {type: hangup}\n")
    with pytest.raises(ConfigError) as err:
        load_flow(path, {"p"})
    assert err.value.problems[0].startswith(f"{path}:8:")
