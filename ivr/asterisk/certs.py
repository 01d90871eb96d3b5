"""The certificate operators' softphones see on the engine Asterisk's TLS port (the desks'
browser phones see the console's, through its TLS proxy).

A real deployment gives its own (`asterisk.sip.tls_cert` and `tls_key`). Without one, `ivr setup`
makes a self-signed pair in the data directory so a fresh install serves TLS at once: phones are
told to trust that certificate (or not to verify), which still keeps passwords and the SRTP keys
away from anyone on the path. The pair is made once and kept, so phones that trust it keep working.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from ivr.errors import SetupError
from ivr.settings import Settings, SipSettings

SUBDIR = "tls"
CERT_NAME = "sip.crt"
KEY_NAME = "sip.key"
VALID_DAYS = 3650


def sip_certificate(settings: Settings) -> tuple[Path, Path]:
    """(certificate, key): the configured ones, else where the self-signed pair lives."""
    sip = settings.asterisk.sip
    if sip.tls_cert is not None and sip.tls_key is not None:
        return sip.tls_cert, sip.tls_key
    base = settings.paths.data_dir / SUBDIR
    return base / CERT_NAME, base / KEY_NAME


def ensure_sip_certificate(settings: Settings) -> bool:
    """Make the self-signed pair when no certificate is configured and none was made yet.

    Returns True when a pair was generated. A configured certificate that cannot be read is a
    setup error naming its setting: Asterisk would otherwise start without its TLS listener."""
    sip = settings.asterisk.sip
    if sip.tls_port is None:
        return False
    cert, key = sip_certificate(settings)
    if sip.tls_cert is not None:
        for path, field in ((cert, "tls_cert"), (key, "tls_key")):
            if not os.access(path, os.R_OK):
                raise SetupError(f"asterisk.sip.{field}: cannot read {path}")
        return False
    if cert.exists() and key.exists():
        return False
    _generate(cert, key, _names(sip))
    return True


def _names(sip: SipSettings) -> list[str]:
    """subjectAltName entries: the SIP address phones dial, plus this host's loopback and name."""
    names = ["IP:127.0.0.1", "DNS:localhost"]
    hostname = socket.gethostname()
    if hostname and hostname != "localhost":
        names.append(f"DNS:{hostname}")
    try:
        bind = ipaddress.ip_address(sip.bind)
    except ValueError:
        names.append(f"DNS:{sip.bind}")
    else:
        if not bind.is_unspecified and f"IP:{bind}" not in names:
            names.append(f"IP:{bind}")
    return names


def _generate(cert: Path, key: Path, names: list[str]) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SetupError("openssl is not installed (apt-get install openssl): needed for the SIP TLS certificate")
    cert.parent.mkdir(parents=True, exist_ok=True)
    cert.parent.chmod(0o700)
    # Written next to the target and moved in place, so a failed run never leaves half a pair.
    with tempfile.TemporaryDirectory(dir=cert.parent) as work:
        new_key, new_cert = Path(work) / KEY_NAME, Path(work) / CERT_NAME
        options = {
            "-newkey": "rsa:2048",
            "-days": str(VALID_DAYS),
            "-subj": f"/O=NUL/CN={names[-1].split(':', 1)[1]}",
            "-keyout": str(new_key),
            "-out": str(new_cert),
        }
        extensions = [f"subjectAltName={','.join(names)}", "basicConstraints=critical,CA:TRUE"]
        result = subprocess.run(
            [openssl, "req", "-x509", "-sha256", "-nodes"]
            + [word for pair in options.items() for word in pair]
            + [word for ext in extensions for word in ("-addext", ext)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SetupError(f"openssl could not make the SIP TLS certificate: {result.stderr.strip()}")
        new_key.chmod(0o600)
        new_cert.chmod(0o600)  # public, but the data dir keeps one rule: the engine's files are its own
        new_key.replace(key)
        new_cert.replace(cert)
