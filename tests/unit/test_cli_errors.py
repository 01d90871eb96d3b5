"""No error of the command line is empty: `ivr lab call --digits 1` once ended after 30 s on a
bare `TimeoutError` and printed only `ivr: `, which tells a newcomer neither what failed nor what
to do next."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import ivr.commands.kb as kb_commands
from ivr.cli import main
from ivr.settings import Settings
from tests.unit.cli_logging import keep_logging
from tests.unit.test_knowledge_cli import _config, clean_env

__all__ = ["clean_env", "keep_logging"]

MORE = "run it again with -v to see where"


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("error", "said"),
    [
        (TimeoutError(), f"`ivr kb list` failed: TimeoutError (a time limit ran out); {MORE}"),
        (OSError(), f"`ivr kb list` failed: OSError (it gave no details); {MORE}"),
        (OSError("disk full"), "disk full"),
    ],
)
def test_an_error_without_text_is_named_with_the_command_and_what_to_do(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    said: str,
) -> None:
    def failing(args: argparse.Namespace, settings: Settings) -> int:
        raise error

    monkeypatch.setattr(kb_commands, "cmd_list", failing)
    assert main(["-c", str(_config(tmp_path, "uno")), "kb", "list"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"ivr: {said}"
