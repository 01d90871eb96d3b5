"""A running managed Asterisk and the settings: a changed trunk address kept the old one because
`ivr run` found Asterisk running and left it alone, and calls from the new carrier were refused
with nothing said. Each change is now found, shown with secrets masked, reloaded, restarted for,
or refused with the setting and the command named. (Against a real Asterisk:
tests/integration/test_config_drift.py.)"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from ivr.asterisk.drift import RESTART, changes
from ivr.asterisk.instance import AsteriskInstance
from ivr.asterisk.managed import engine_context
from ivr.commands.asterisk import bring_running_up_to_date
from ivr.errors import SetupError
from ivr.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
ARI_SECRET = "a" * 20


def _settings(tmp: Path, **asterisk: Any) -> Settings:
    overrides = {
        "paths": {"data_dir": str(tmp / "var")},
        "asterisk": {"ari": {"password": ARI_SECRET}, "ami": {"password": "m" * 20}, "sip": {"tls_port": None}},
    }
    for key, value in asterisk.items():
        section = overrides["asterisk"].setdefault(key, {})
        section.update(value)
    return load_settings(REPO / "config" / "nul.yaml", environ={"IVR_SECRETS_FILE": str(tmp / "none.yaml")},
                         overrides=overrides)  # fmt: skip


def _context(settings: Settings) -> dict[str, Any]:
    return {**engine_context(settings), "run_user": None}  # no account of the root to hand files to here


class _Running(AsteriskInstance):
    """The instance's files for real; its process replaced by what the test says."""

    def __init__(self, tmp: Path, settings: Settings, calls: int = 0) -> None:
        root = SimpleNamespace(path=tmp / "root", modules_dir=lambda: "/usr/lib/asterisk/modules")
        super().__init__(cast(Any, root), "nul", [settings.asterisk_config_dir / "engine"])
        self.calls, self.commands, self.stopped = calls, list[str](), False

    def cli(self, command: str, timeout: float = 10.0) -> str:
        self.commands.append(command)
        return f"0 active channels\n{self.calls} active calls\n" if command == "core show channels count" else ""

    def pid(self) -> int | None:
        return None if self.stopped else 4242

    def stop(self, timeout: float = 15.0) -> None:
        self.stopped = True


def test_a_new_trunk_address_is_reloaded_into_the_running_asterisk(tmp_path: Path) -> None:
    before = _settings(tmp_path)
    running = _Running(tmp_path, before)
    running.render(_context(before))
    assert changes(running, _context(before)) == []

    after = _settings(tmp_path, trunk={"host": "192.0.2.7"})
    (change,) = changes(running, _context(after))
    assert change.file == "pjsip.conf" and change.action == "module reload res_pjsip.so"
    assert "-match = 127.0.0.2" in change.diff and "+match = 192.0.2.7" in change.diff
    assert "asterisk.trunk" in change.settings

    assert bring_running_up_to_date(running, _context(after)) is True
    assert running.commands == ["module reload res_pjsip.so"] and not running.stopped
    assert "match = 192.0.2.7" in (running.host("etc") / "pjsip.conf").read_text()
    assert changes(running, _context(after)) == []


def test_a_change_only_a_restart_applies_restarts_an_idle_asterisk_and_refuses_a_busy_one(tmp_path: Path) -> None:
    before = _settings(tmp_path)
    busy = _Running(tmp_path, before, calls=3)
    busy.render(_context(before))
    after = _settings(tmp_path, sip={"port": 5090})  # a transport's port: res_pjsip does not rebind on reload
    found = changes(busy, _context(after))
    assert [(c.file, c.action) for c in found] == [("pjsip.conf", RESTART)]

    with pytest.raises(SetupError) as refused:
        bring_running_up_to_date(busy, _context(after))
    said = str(refused.value)
    assert "pjsip.conf (from asterisk.trunk, asterisk.sip, asterisk.webrtc)" in said and "3 calls are up" in said
    assert "`ivr asterisk down`, then `ivr run`" in said and not busy.stopped

    idle = _Running(tmp_path, before, calls=0)
    assert bring_running_up_to_date(idle, _context(after)) is False  # stopped: `ivr run` starts it afresh
    assert idle.stopped


def test_the_diff_masks_secrets_and_names_what_needs_a_restart(tmp_path: Path) -> None:
    before = _settings(tmp_path)
    running = _Running(tmp_path, before)
    running.render(_context(before))
    after = _settings(tmp_path, ari={"password": "b" * 20, "port": 8099})
    found = {c.file: c for c in changes(running, _context(after))}
    assert found["http.conf"].action == RESTART  # the HTTP server's port
    assert found["ari.conf"].action == "module reload res_ari.so"
    text = "\n".join(line for c in found.values() for line in c.diff)
    assert ARI_SECRET not in text and "b" * 20 not in text
    assert "-password = ***" in text and "+password = *** (changed)" in text  # a change, never the value


def test_ivr_config_diff_shows_each_change_and_how_it_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ivr.asterisk.managed import engine_instance
    from ivr.cli import main

    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"asterisk:\n  ari: {{password: {ARI_SECRET}}}\n  ami: {{password: {'m' * 20}}}\n")
    secrets.chmod(0o600)
    for name in [n for n in os.environ if n.startswith("IVR_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("IVR_SECRETS_FILE", str(secrets))
    monkeypatch.setenv("IVR_PATHS__DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IVR_ASTERISK__MANAGED__CACHE_DIR", str(tmp_path / "cache"))
    config = str(REPO / "config" / "nul.yaml")
    settings = load_settings(config)
    instance = engine_instance(settings)
    (instance.root.path / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True)

    assert main(["-c", config, "config", "diff"]) == 1  # never started: every file differs
    assert "asterisk-nul (not running: `ivr run` writes the configuration as it starts it)" in capsys.readouterr().out

    monkeypatch.setattr(AsteriskInstance, "_hand_over", lambda self, user: None)  # no account of a root here
    instance.render(engine_context(settings))  # as `ivr run` starts it
    assert main(["-c", config, "config", "diff"]) == 0
    assert "configured as the settings say" in capsys.readouterr().out

    monkeypatch.setenv("IVR_ASTERISK__TRUNK__HOST", "192.0.2.7")
    assert main(["-c", config, "config", "diff"]) == 1
    out = capsys.readouterr().out
    assert "1 file(s) differ from the settings" in out
    assert "pjsip.conf — settings: asterisk.trunk, asterisk.sip, asterisk.webrtc; applied by " in out
    assert "`module reload res_pjsip.so`" in out and "+match = 192.0.2.7" in out and ARI_SECRET not in out


def test_doctor_and_a_run_without_asterisk_name_an_older_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Under systemd Asterisk is a service of its own and the engine starts with --no-asterisk:
    a changed setting is named by `ivr doctor` and in the engine's log, with `ivr asterisk up`."""
    from ivr.asterisk.managed import engine_instance
    from ivr.commands.asterisk import warn_of_older_configuration
    from ivr.ops.doctor_drift import check_asterisk_config

    def settings(**asterisk: Any) -> Settings:
        return _settings(tmp_path, managed={"cache_dir": str(tmp_path / "cache")}, **asterisk)

    monkeypatch.setattr(AsteriskInstance, "_hand_over", lambda self, user: None)
    instance = engine_instance(settings())
    (instance.root.path / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True)
    (found,) = check_asterisk_config(settings())
    assert found.verdict == "OK" and "not running" in found.detail
    instance.render(engine_context(settings()))
    (instance.host("run") / "asterisk.pid").write_text(str(os.getpid()))  # "running": a live pid
    (found,) = check_asterisk_config(settings())
    assert found.verdict == "OK" and "the configuration the settings give" in found.detail

    moved = settings(trunk={"host": "192.0.2.7"})
    (found,) = check_asterisk_config(moved)
    assert found.verdict == "WARN" and "a reload applies it: pjsip.conf (asterisk.trunk" in found.detail
    assert found.fix.startswith("ivr asterisk up")
    with caplog.at_level("WARNING"):
        warn_of_older_configuration(moved)
    assert "runs with an older configuration (pjsip.conf from asterisk.trunk" in caplog.text
