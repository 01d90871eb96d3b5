"""`ivr doctor`'s check of the managed Asterisk's configuration against the settings: under the
systemd units Asterisk is a service of its own and the engine starts with `--no-asterisk`, so a
setting changed in nul.yaml reaches Asterisk only through `ivr asterisk up` (`ivr.asterisk.drift`)."""

from __future__ import annotations

from ivr.asterisk.drift import changes, restart_needed
from ivr.asterisk.managed import engine_context, engine_instance
from ivr.ops.findings import OK, WARN, Finding
from ivr.settings import Settings

NAME = "asterisk conf"
APPLY = "ivr asterisk up (a reload, or a restart when no call is up); ivr config diff shows each change"


def check_asterisk_config(settings: Settings) -> list[Finding]:
    if not settings.asterisk.managed.enabled:
        return [Finding(NAME, OK, "not managed here (asterisk.managed.enabled: false)")]
    instance = engine_instance(settings)
    if not instance.running():
        return [Finding(NAME, OK, "Asterisk not running: `ivr run` writes its configuration as it starts it")]
    found = changes(instance, engine_context(settings))
    if not found:
        return [Finding(NAME, OK, "Asterisk runs with the configuration the settings give")]
    how = "a restart" if restart_needed(found) else "a reload"
    files = ", ".join(f"{c.file} ({c.settings})" for c in found)
    return [Finding(NAME, WARN, f"Asterisk runs with an older configuration, {how} applies it: {files}", APPLY)]
