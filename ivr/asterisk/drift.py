"""What changed between the configuration the running Asterisk read and the one the settings
render now, and what each change takes to be applied.

A managed Asterisk keeps running across engine restarts, so a setting changed in nul.yaml (the
trunk's address, a port) reached it only if someone restarted it by hand: calls from a new
carrier were refused as "No matching endpoint found" while the engine said nothing. `ivr run`
(through `ivr asterisk up`) now applies each change by reloading the module that reads the file,
restarts Asterisk for the few files a reload cannot apply when no call is up, or refuses naming
the setting and the command; `ivr config diff` shows the same, secrets masked.
"""

from __future__ import annotations

import configparser
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.asterisk.instance import AsteriskInstance

RESTART = "restart"
# The CLI command that makes a running Asterisk read each file again; a file missing here (its
# module reads it only at load: asterisk.conf, modules.conf, http.conf's bind address) needs a
# restart.
RELOADS: dict[str, str] = {
    "pjsip.conf": "module reload res_pjsip.so",  # endpoints, addresses of record, identify; not transports
    "extensions.conf": "dialplan reload",
    "ari.conf": "module reload res_ari.so",
    "manager.conf": "manager reload",
    "rtp.conf": "module reload res_rtp_asterisk.so",
    "musiconhold.conf": "moh reload",
    "features.conf": "module reload features",
    "indications.conf": "module reload indications",
    "logger.conf": "logger reload",
    "cdr.conf": "module reload cdr",
    "cel.conf": "module reload cel",
}
# The settings each file is rendered from, to name them when a change cannot be applied.
SETTINGS: dict[str, str] = {
    "pjsip.conf": "asterisk.trunk, asterisk.sip, asterisk.webrtc",
    "http.conf": "asterisk.host, asterisk.ari.port",
    "ari.conf": "asterisk.ari",
    "manager.conf": "asterisk.host, asterisk.ami",
    "extensions.conf": "service.did, service.language, ha.callers_wait_s",
    "rtp.conf": "asterisk.sip.rtp_start, asterisk.sip.rtp_end",
    "asterisk.conf": "asterisk.managed",
    "modules.conf": "asterisk.webrtc",
}
_SECRET = re.compile(r"^(\s*[\w.-]*(?:password|secret)[\w.-]*\s*=\s*).*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Change:
    """One file whose rendered text differs from the one Asterisk read."""

    file: str
    action: str  # a CLI command from RELOADS, or RESTART
    diff: tuple[str, ...]  # unified diff lines, secrets masked

    @property
    def settings(self) -> str:
        return SETTINGS.get(self.file, "the templates in config/asterisk/engine")


def changes(instance: AsteriskInstance, context: Mapping[str, Any]) -> list[Change]:
    """Every file of the instance whose text would change if rendered with `context` now."""
    etc = instance.host("etc")
    found: list[Change] = []
    for name, text in sorted(instance.rendered(context).items()):
        path = etc / name
        old = path.read_text() if path.exists() else ""
        if old != text:
            found.append(Change(name, _action(name, old, text), _diff(name, old, text)))
    for name, source in sorted(dict(context.get("etc_files") or {}).items()):  # TLS certificate and key
        path = etc / name
        if not path.exists() or path.read_bytes() != Path(source).read_bytes():
            found.append(Change(name, RESTART, (f"{name}: a new file from {source}",)))
    return found


def restart_needed(found: list[Change]) -> bool:
    return any(c.action == RESTART for c in found)


def _action(name: str, old: str, new: str) -> str:
    command = RELOADS.get(name)
    if command is None:
        return RESTART
    if name == "pjsip.conf" and _transports(old) != _transports(new):
        return RESTART  # res_pjsip does not rebind a transport on reload
    return command


def _transports(text: str) -> dict[str, dict[str, str]]:
    """pjsip.conf's transport sections (a section name may repeat there, each a new object)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=(";",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string("\n".join(line for line in text.splitlines() if not line.startswith("#")))
    except configparser.Error:
        return {"unreadable": {"text": text}}  # compared as a whole: any change restarts
    return {s: dict(parser[s]) for s in parser.sections() if parser[s].get("type") == "transport"}


def _masked(text: str, known: set[str]) -> str:
    """Secrets as `***`; one not among `known` (the old file's) as `*** (changed)`, so a new
    password shows as a change without showing it."""
    return _SECRET.sub(lambda m: m.group(1) + ("***" if m.group(0) in known else "*** (changed)"), text)


def _diff(name: str, old: str, new: str) -> tuple[str, ...]:
    known = {m.group(0) for m in _SECRET.finditer(old)}
    lines = difflib.unified_diff(
        _masked(old, known).splitlines(),
        _masked(new, known).splitlines(),
        f"{name} (read by the running Asterisk)",
        f"{name} (from the settings now)",
        lineterm="",
        n=1,
    )
    return tuple(lines)


def calls_up(instance: AsteriskInstance) -> int:
    """Calls the running Asterisk has now (`core show channels count`)."""
    out = instance.cli("core show channels count")
    match = re.search(r"(\d+) active calls?", out)
    return int(match.group(1)) if match else 0
