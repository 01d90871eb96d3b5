"""systemd units for the managed Asterisk and the engine (active, or standby), and logrotate for
Asterisk's logs; `ivr service install` writes them.

The engine unit is `Type=notify`: systemd counts it started when it answers calls (READY=1) and
restarts it when its event loop stops sending WATCHDOG=1; `ivr service check` then waits for
`/api/ready`. Both units run with the file system read-only except the data and Asterisk folders.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from ivr.settings import Settings

ASTERISK_UNIT = "nul-asterisk.service"
ENGINE_UNIT = "nul-engine.service"
STANDBY_UNIT = "nul-engine-standby.service"
LOGROTATE = "nul-asterisk"
WATCHDOG_S = 30

# Asterisk starts as root to chroot into its root, then gives up root for its own account.
ASTERISK_CAPS = (
    "CAP_SYS_CHROOT CAP_SETUID CAP_SETGID CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_KILL CAP_NET_BIND_SERVICE"
)
# The engine shares prompts and the operators' endpoints with Asterisk's group (chown) and
# removes audio in Asterisk's spool when the retention says so.
ENGINE_CAPS = "CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE"
HOMES = (Path("/home"), Path("/root"), Path("/run/user"))


@dataclass(frozen=True)
class Layout:
    """Where things are on this machine, as the units must name them (absolute paths)."""

    ivr: list[str]  # the command that runs `ivr`
    config: Path
    workdir: Path
    data_dir: Path
    asterisk_root: Path
    asterisk_logs: Path

    @classmethod
    def of(cls, settings: Settings, config: Path) -> Layout:
        from ivr.asterisk.managed import asterisk_root, engine_instance

        script = Path(sys.executable).parent / "ivr"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "ivr.cli"]
        root = asterisk_root(settings)
        return cls(
            ivr=command,
            config=config.resolve(),
            workdir=settings.config_dir.resolve().parent,
            data_dir=settings.paths.data_dir.resolve(),
            asterisk_root=root.path.resolve(),
            asterisk_logs=engine_instance(settings, root).host("log").resolve(),
        )

    def command(self, *words: str) -> str:
        return shlex.join([*self.ivr, "-c", str(self.config), *words])


def _hardening(layout: Layout, writable: list[Path], caps: str) -> str:
    paths = [layout.workdir, layout.config, *writable]
    in_home = any(p.is_relative_to(h) for p in paths for h in HOMES)
    return "\n".join(
        [
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            f"ReadWritePaths={' '.join(sorted({str(p) for p in writable}))}",
            # Under /home the install must stay visible (read-only); elsewhere homes are hidden.
            f"ProtectHome={'read-only' if in_home else 'yes'}",
            "PrivateTmp=yes",
            "PrivateDevices=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "ProtectClock=yes",
            "ProtectHostname=yes",
            "RestrictSUIDSGID=yes",
            "RestrictRealtime=yes",
            "RestrictNamespaces=yes",
            "LockPersonality=yes",
            "SystemCallArchitectures=native",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
            f"CapabilityBoundingSet={caps}",
            "UMask=0077",
        ]
    )


def asterisk_unit(layout: Layout, settings: Settings) -> str:
    pidfile = layout.asterisk_root / "run" / f"asterisk-{settings.asterisk.managed.instance}" / "asterisk.pid"
    return f"""[Unit]
Description=NUL: the managed Asterisk 22 of the 800.000.039 line
Documentation=file:{layout.workdir}/docs/guida-amministratori.md
After=network-online.target
Wants=network-online.target

[Service]
Type=forking
WorkingDirectory={layout.workdir}
ExecStart={layout.command("asterisk", "up")}
ExecStop={layout.command("asterisk", "down")}
PIDFile={pidfile}
Restart=on-failure
RestartSec=3
TimeoutStartSec=180
{_hardening(layout, [layout.asterisk_root, layout.data_dir], ASTERISK_CAPS)}

[Install]
WantedBy=multi-user.target
"""


def engine_unit(layout: Layout, *, standby: bool = False) -> str:
    run = ["run", "--no-asterisk", *(["--standby"] if standby else [])]
    check = ["service", "check", "--timeout", "120", *(["--standby"] if standby else [])]
    other = ENGINE_UNIT if standby else STANDBY_UNIT
    role = "standby engine (takes over when the active one stops)" if standby else "engine"
    return f"""[Unit]
Description=NUL: the {role} of the 800.000.039 line
Documentation=file:{layout.workdir}/docs/guida-amministratori.md
After=network-online.target {ASTERISK_UNIT}
Wants=network-online.target
{"Wants" if standby else "Requires"}={ASTERISK_UNIT}
Conflicts={other}

[Service]
Type=notify
NotifyAccess=main
WorkingDirectory={layout.workdir}
Environment=PYTHONUNBUFFERED=1
ExecStart={layout.command(*run)}
ExecStartPost={layout.command(*check)}
Restart=on-failure
RestartSec=2
WatchdogSec={WATCHDOG_S}
TimeoutStartSec=180
TimeoutStopSec=30
KillSignal=SIGTERM
{_hardening(layout, [layout.asterisk_root, layout.data_dir], ENGINE_CAPS)}

[Install]
WantedBy=multi-user.target
"""


def logrotate_conf(layout: Layout, settings: Settings) -> str:
    """console.log (Asterisk's output) always; messages.log only when the engine's daily purge
    does not rotate it itself (`retention.enabled: false`)."""
    days = settings.retention.asterisk_logs_days
    files = [str(layout.asterisk_logs / "console.log")]
    if not settings.retention.enabled:
        files.append(str(layout.asterisk_logs / "messages.log"))
    return f"""{" ".join(files)} {{
    daily
    rotate {days}
    maxage {days}
    copytruncate
    compress
    delaycompress
    missingok
    notifempty
}}
"""


def install(settings: Settings, config: Path, root: Path) -> list[Path]:
    """Write the units under `root` (/ on the real machine); returns the files written."""
    layout = Layout.of(settings, config)
    files = {
        root / "etc/systemd/system" / ASTERISK_UNIT: asterisk_unit(layout, settings),
        root / "etc/systemd/system" / ENGINE_UNIT: engine_unit(layout),
        root / "etc/systemd/system" / STANDBY_UNIT: engine_unit(layout, standby=True),
        root / "etc/logrotate.d" / LOGROTATE: logrotate_conf(layout, settings),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o644)
    return list(files)
