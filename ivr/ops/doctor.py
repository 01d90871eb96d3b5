"""`ivr doctor`: what usually goes wrong on a machine, each check with its verdict and the fix.

OK: nothing to do. WARN: works, but needs attention (a certificate expiring within 30 days, little
disk left, the clock's sync unknown). FAIL: the line cannot work until fixed; the exit code is 1.
"""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ivr.ops.doctor_drift import check_asterisk_config
from ivr.ops.doctor_trunk import check_trunk
from ivr.ops.findings import FAIL, OK, WARN, Finding
from ivr.settings import Settings

__all__ = ["FAIL", "OK", "WARN", "Finding", "report", "run_checks"]

CERT_WARN_DAYS = 30
DISK_WARN_BYTES, DISK_FAIL_BYTES = 5 * 1024**3, 512 * 1024**2


Check = Callable[[Settings], list[Finding]]


def run_checks(settings: Settings, checks: list[Check] | None = None) -> list[Finding]:
    found: list[Finding] = []
    for check in checks or CHECKS:
        try:
            found += check(settings)
        except Exception as exc:  # one broken check must not hide the others' answers
            found.append(Finding(check.__name__.removeprefix("check_"), FAIL, f"the check itself failed: {exc!r}"))
    return found


def report(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(f"{f.verdict:4}  {f.check:14} {f.detail}")
        if f.fix and f.verdict != OK:
            lines.append(f"{'':20}-> {f.fix}")
    return "\n".join(lines)


def _engine_answers(settings: Settings) -> bool:
    from ivr.apiclient import ApiError, call_api

    try:
        call_api(settings, "GET", "/api/health")
    except ApiError:
        return False
    return True


def _free(host: str, port: int, kind: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _asterisk_running(settings: Settings) -> bool:
    if not settings.asterisk.managed.enabled:
        return False
    from ivr.asterisk.managed import engine_instance

    return engine_instance(settings).running()


def check_ports(settings: Settings) -> list[Finding]:
    c, a = settings.console, settings.asterisk
    found = []
    if _free(c.bind, c.port, socket.SOCK_STREAM):
        found.append(Finding("ports", OK, f"console/API {c.bind}:{c.port} free"))
    elif _engine_answers(settings):
        found.append(Finding("ports", OK, f"console/API {c.bind}:{c.port}: the engine is running there"))
    else:
        found.append(
            Finding(
                "ports",
                FAIL,
                f"console/API {c.bind}:{c.port} is taken by another program",
                f"see who holds it: ss -ltnp 'sport = :{c.port}'; or change console.port",
            )
        )
    if not a.managed.enabled:
        return found
    if _asterisk_running(settings):
        found.append(Finding("ports", OK, "Asterisk's ports: the managed Asterisk is running and holds them"))
        return found
    wanted = [("SIP", a.sip.bind, a.sip.port, socket.SOCK_DGRAM), ("ARI", a.host, a.ari.port, socket.SOCK_STREAM)]
    wanted.append(("AMI", a.host, a.ami.port, socket.SOCK_STREAM))
    if a.sip.tls_port is not None:
        wanted.append(("SIP TLS", a.sip.bind, a.sip.tls_port, socket.SOCK_STREAM))
    for name, host, port, kind in wanted:
        if not _free(host, port, kind):
            proto = "u" if kind == socket.SOCK_DGRAM else "t"
            found.append(
                Finding(
                    "ports",
                    FAIL,
                    f"{name} {host}:{port} is taken and the managed Asterisk is not running",
                    f"see who holds it: ss -l{proto}np 'sport = :{port}' (another Asterisk?); stop it, or change it",
                )
            )
    if len(found) == 1:
        found.append(Finding("ports", OK, "Asterisk's SIP, ARI and AMI ports are free"))
    return found


def check_asterisk_root(settings: Settings) -> list[Finding]:
    if not settings.asterisk.managed.enabled:
        return [Finding("asterisk root", OK, f"external Asterisk at {settings.asterisk.host} (not managed here)")]
    from ivr.asterisk.managed import asterisk_root

    root = asterisk_root(settings)
    if root.ready:
        return [Finding("asterisk root", OK, str(root.path))]
    return [
        Finding("asterisk root", FAIL, f"{root.path} is not built", "run: ivr asterisk build (once, about a minute)")
    ]


def check_ari_app(settings: Settings) -> list[Finding]:
    a = settings.asterisk
    if a.ari.password is None:
        return [Finding("ARI app", FAIL, "no ARI password", "run: ivr setup")]
    url = f"http://{a.host}:{a.ari.port}/ari/applications/{a.ari.app}"
    token = base64.b64encode(f"{a.ari.username}:{a.ari.password.get_secret_value()}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=3):
            return [Finding("ARI app", OK, f"Stasis app {a.ari.app!r} registered: calls reach the engine")]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return [
                Finding(
                    "ARI app",
                    FAIL,
                    f"Asterisk answers but the Stasis app {a.ari.app!r} is not registered: callers hear "
                    "'service unavailable'",
                    "start the engine: ivr run (or systemctl start nul-engine)",
                )
            ]
        if exc.code == 401:
            return [Finding("ARI app", FAIL, "ARI refused the password", "run: ivr asterisk down && ivr asterisk up")]
        return [Finding("ARI app", FAIL, f"ARI answered HTTP {exc.code}", "see Asterisk's log")]
    except (urllib.error.URLError, OSError) as exc:
        return [
            Finding(
                "ARI app",
                FAIL,
                f"Asterisk's ARI at {a.host}:{a.ari.port} does not answer ({getattr(exc, 'reason', exc)})",
                "start Asterisk: ivr asterisk up (or systemctl start nul-asterisk)",
            )
        ]


# Where releases before the console's /ws relay had Asterisk's HTTP server listen with TLS for the
# desks (ARI answered there too): an Asterisk whose http.conf was not regenerated may still do so.
LEGACY_WSS_PORT = 8089


def check_desk_phones(settings: Settings) -> list[Finding]:
    a = settings.asterisk
    if not a.webrtc.enabled:
        return [Finding("desk phones", OK, "off (asterisk.webrtc.enabled: false)")]
    stale = _asterisk_http(a.sip.bind, LEGACY_WSS_PORT)
    if stale is not None:
        return [
            Finding(
                "desk phones",
                FAIL,
                f"Asterisk's HTTP server, ARI with it, answers on {a.sip.bind}:{LEGACY_WSS_PORT} ({stale}), "
                "the address operators reach",
                "remove tlsenable/tlsbindaddr from Asterisk's http.conf (managed: ivr asterisk down && ivr asterisk "
                "up); desks connect through the console's /ws",
            )
        ]
    return [
        Finding(
            "desk phones",
            OK,
            f"SIP WebSocket relayed by the console (/ws) to Asterisk at {a.host}:{a.ari.port}; "
            f"no HTTP server of Asterisk's on {a.sip.bind}:{LEGACY_WSS_PORT}",
        )
    ]


def _asterisk_http(host: str, port: int) -> str | None:
    """How Asterisk's HTTP server answered there (e.g. "https 401"), or None when it did not."""
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # any certificate: the question is who answers, not trust
    name = f"[{host}]" if ":" in host else host
    for scheme in ("https", "http"):
        url = f"{scheme}://{name}:{port}/ari/asterisk/info"
        try:
            with urllib.request.urlopen(url, timeout=2, context=insecure if scheme == "https" else None) as r:
                server, code = r.headers.get("Server", ""), r.status
        except urllib.error.HTTPError as exc:
            server, code = exc.headers.get("Server", ""), exc.code
        except (urllib.error.URLError, OSError, ValueError):
            continue
        if "asterisk" in server.lower():
            return f"{scheme} {code}"
    return None


def _cert_finding(label: str, path: Path, now: datetime) -> Finding:
    from cryptography import x509

    if not path.exists():
        return Finding("certificates", FAIL, f"{label}: {path} is missing", "run: ivr setup (or give the file)")
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (ValueError, OSError) as exc:
        return Finding("certificates", FAIL, f"{label}: {path} cannot be read ({exc})", "replace the file")
    ends = cert.not_valid_after_utc
    days = (ends - now).days
    if ends <= now:
        return Finding("certificates", FAIL, f"{label}: expired on {ends:%Y-%m-%d}", "renew the certificate")
    if days < CERT_WARN_DAYS:
        return Finding("certificates", WARN, f"{label}: expires in {days} days ({ends:%Y-%m-%d})", "renew it soon")
    return Finding("certificates", OK, f"{label}: valid until {ends:%Y-%m-%d}")


def check_certificates(settings: Settings) -> list[Finding]:
    now = datetime.now(UTC)
    found = []
    if settings.asterisk.sip.tls_port is not None:
        from ivr.asterisk.certs import sip_certificate

        cert, key = sip_certificate(settings)
        found.append(_cert_finding("SIP TLS", cert, now))
        if not key.exists():
            found.append(Finding("certificates", FAIL, f"SIP TLS key {key} is missing", "run: ivr setup"))
    if settings.mail.ca_file is not None:
        found.append(_cert_finding("mail CA", settings.mail.ca_file, now))
    return found or [Finding("certificates", OK, "no certificate in use (SIP TLS off, no mail CA)")]


def check_transcription(settings: Settings) -> list[Finding]:
    path = settings.transcription.model_path
    if path is None:
        return [
            Finding(
                "transcription",
                WARN,
                "no model: voicemails are kept and wait as 'transcription pending'",
                "ivr models download it-small, then set transcription.model_path",
            )
        ]
    if not (path / "am").is_dir() and not (path / "conf").is_dir():
        return [Finding("transcription", FAIL, f"{path} is not a Vosk model folder", "point model_path at it")]
    return [Finding("transcription", OK, f"model {path}")]


def check_disk(settings: Settings) -> list[Finding]:
    found = []
    for label, path in (("data", settings.paths.data_dir), ("voicemail", settings.voicemail_dir)):
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        free = shutil.disk_usage(existing).free
        text = f"{label} ({path}): {free / 1024**3:.1f} GB free"
        if free < DISK_FAIL_BYTES:
            found.append(Finding("disk", FAIL, text, "free space: audio and the database need it"))
        elif free < DISK_WARN_BYTES:
            found.append(Finding("disk", WARN, text, "free space or move paths.data_dir to a larger disk"))
        else:
            found.append(Finding("disk", OK, text))
    return found


def _run(*cmd: str) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def check_clock(settings: Settings) -> list[Finding]:
    fix = "enable time sync: timedatectl set-ntp true (or install chrony)"
    synced = _run("timedatectl", "show", "-p", "NTPSynchronized", "--value")
    if synced is not None and synced.strip() in ("yes", "no"):
        if synced.strip() == "yes":
            return [Finding("clock", OK, "in sync (timedatectl)")]
        return [Finding("clock", WARN, "not in sync (timedatectl): call times and deadlines drift", fix)]
    tracking = _run("chronyc", "tracking")
    if tracking is not None:
        if "Leap status     : Normal" in tracking:
            return [Finding("clock", OK, "in sync (chrony)")]
        return [Finding("clock", WARN, "chrony is not in sync", fix)]
    return [Finding("clock", WARN, "sync unknown (neither timedatectl nor chrony answered)", fix)]


def check_database(settings: Settings) -> list[Finding]:
    from sqlalchemy.exc import SQLAlchemyError

    from ivr.ops.backup import _sqlite_path
    from ivr.tickets.db import current_revision, head_revision, make_engine

    path = _sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        return [Finding("database", FAIL, f"no database at {path}", "run: ivr setup (or ivr db upgrade)")]
    engine = make_engine(settings.database_url)
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        return [
            Finding(
                "database",
                FAIL,
                f"{engine.url.get_backend_name()} not reachable: {type(exc).__name__}",
                "check database.url, that the server runs and accepts this machine",
            )
        ]
    finally:
        engine.dispose()
    head = head_revision()
    backend = engine.url.get_backend_name()
    if current != head:
        return [Finding("database", FAIL, f"{backend} at revision {current}, code needs {head}", "run: ivr db upgrade")]
    return [Finding("database", OK, f"{backend}, schema at {current} (latest)")]


def check_smtp(settings: Settings) -> list[Finding]:
    m = settings.mail
    if m.host is None:
        return [Finding("smtp", OK, "not configured: replies stay in the store")]
    port = m.effective_port
    try:
        with socket.create_connection((m.host, port), timeout=m.timeout_s) as sock:
            sock.settimeout(m.timeout_s)
            banner = b"" if m.tls == "implicit" else sock.recv(512)
    except OSError as exc:
        return [
            Finding("smtp", FAIL, f"{m.host}:{port} not reachable ({exc})", "check mail.host/mail.port and firewall")
        ]
    if banner and not banner.startswith(b"220"):
        return [Finding("smtp", WARN, f"{m.host}:{port} answered {banner[:60]!r}", "is it an SMTP server?")]
    return [Finding("smtp", OK, f"{m.host}:{port} reachable")]


CHECKS: list[Check] = [
    check_ports,
    check_asterisk_root,
    check_asterisk_config,
    check_ari_app,
    check_desk_phones,
    check_trunk,
    check_certificates,
    check_transcription,
    check_disk,
    check_clock,
    check_database,
    check_smtp,
]
