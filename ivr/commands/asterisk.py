"""The managed Asterisk's configuration against the settings: applied when `ivr run` finds it
running (`ivr.asterisk.drift`), shown by `ivr config diff`."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from typing import Any

from ivr.asterisk.drift import RESTART, Change, calls_up, changes, restart_needed
from ivr.asterisk.instance import AsteriskInstance
from ivr.asterisk.root import RootBuildError
from ivr.errors import SetupError
from ivr.settings import Settings

log = logging.getLogger(__name__)


def bring_running_up_to_date(instance: AsteriskInstance, context: Mapping[str, Any]) -> bool:
    """For an Asterisk found running: True when it now runs with the settings' configuration
    (unchanged, or reloaded); False when it was stopped to be started again with it. Raises
    SetupError, naming the settings and the command, when a restart is needed while calls are up."""
    found = changes(instance, context)
    if not found:
        print(f"asterisk-{instance.name} already running (pid {instance.pid()}), configured as the settings say")
        return True
    files = ", ".join(c.file for c in found)
    if restart_needed(found):
        busy = calls_up(instance)
        if busy:
            raise SetupError(_refusal(instance.name, found, busy))
        print(f"asterisk-{instance.name}: no call is up; restarting it to apply {files}")
        instance.stop()
        return False
    instance.render(context)
    for command in dict.fromkeys(c.action for c in found):
        instance.cli(command)
    print(f"asterisk-{instance.name} already running (pid {instance.pid()}): reloaded {files}")
    return True


def warn_of_older_configuration(settings: Settings) -> None:
    """`ivr run --no-asterisk` (the systemd units: Asterisk is a service of its own): a managed
    Asterisk running with an older configuration is named in the log with the command that
    applies it. The engine starts all the same: refusing would take the line down."""
    from ivr.asterisk.managed import engine_context, engine_instance

    if not settings.asterisk.managed.enabled:
        return
    instance = engine_instance(settings)
    if not instance.running():
        return
    try:
        found = changes(instance, engine_context(settings))
    except (SetupError, RootBuildError, OSError) as exc:  # the engine can run all the same: say so, go on
        log.warning("asterisk-%s: its configuration could not be compared with the settings: %s", instance.name, exc)
        return
    if found:
        log.warning(
            "asterisk-%s runs with an older configuration (%s): `ivr asterisk up` applies it (a reload, or a "
            "restart when no call is up); `ivr config diff` shows it",
            instance.name,
            ", ".join(f"{c.file} from {c.settings}" for c in found),
        )


def _refusal(name: str, found: list[Change], busy: int) -> str:
    needs = [c for c in found if c.action == RESTART]
    what = "; ".join(f"{c.file} (from {c.settings})" for c in needs)
    return (
        f"asterisk-{name} runs with an older configuration that only a restart applies: {what}; "
        f"{busy} call{'s are' if busy != 1 else ' is'} up now. When they have ended: `ivr asterisk down`, "
        "then `ivr run`; `ivr config diff` shows every change"
    )


def cmd_config_diff(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.asterisk.managed import engine_context, engine_instance

    if not settings.asterisk.managed.enabled:
        print("asterisk.managed.enabled is false: the Asterisk this engine uses is configured by its own admin")
        return 0
    instance = engine_instance(settings)
    found = changes(instance, engine_context(settings))
    state = "running" if instance.running() else "not running: `ivr run` writes the configuration as it starts it"
    if not found:
        print(f"asterisk-{instance.name} ({state}): configured as the settings say")
        return 0
    print(f"asterisk-{instance.name} ({state}): {len(found)} file(s) differ from the settings")
    for c in found:
        how = "a restart (`ivr run` does it when no call is up)" if c.action == RESTART else f"`{c.action}`"
        print(f"\n{c.file} — settings: {c.settings}; applied by {how}")
        for line in c.diff:
            print(f"    {line}")
    return 1
