"""Asterisk's root knows the machine's own names: with no /etc/hosts inside it, Asterisk's
start-up lookups of the host name went to the name server, and a slow one held a restart for
three minutes (the soak's run 8)."""

from __future__ import annotations

from pathlib import Path

from ivr.asterisk.instance import _names_in_root


def test_the_hosts_file_is_copied_into_the_root_and_kept_current(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    _names_in_root(root)
    copied = (root / "etc" / "hosts").read_bytes()
    assert copied == Path("/etc/hosts").read_bytes()
    assert b"localhost" in copied
    (root / "etc" / "hosts").write_text("stale\n")
    _names_in_root(root)
    assert (root / "etc" / "hosts").read_bytes() == Path("/etc/hosts").read_bytes()
