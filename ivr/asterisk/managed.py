"""The engine's own Asterisk when `asterisk.managed.enabled`: layout, config context, secrets."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml

from ivr.asterisk.certs import ensure_sip_certificate, sip_certificate
from ivr.asterisk.instance import AsteriskInstance, Ports
from ivr.asterisk.root import RUN_USER, AsteriskRoot, Recipe
from ivr.errors import SetupError
from ivr.settings import Settings
from ivr.telephony.dialstring import CARRIER_ENDPOINT

PROMPTS_SUBDIR = "nul-prompts"
# Where the SIP TLS certificate and key are copied, relative to the instance's config dir.
TLS_CERT = "keys/sip.crt"
TLS_KEY = "keys/sip.key"


def asterisk_root(settings: Settings) -> AsteriskRoot:
    managed = settings.asterisk.managed
    return AsteriskRoot(managed.cache_dir, Recipe(suite=managed.suite, mirror=managed.mirror))


def engine_instance(settings: Settings, root: AsteriskRoot | None = None) -> AsteriskInstance:
    return AsteriskInstance(
        root or asterisk_root(settings),
        settings.asterisk.managed.instance,
        [settings.asterisk_config_dir / "engine"],
    )


def engine_ports(settings: Settings) -> Ports:
    a = settings.asterisk
    return Ports(
        sip=(a.sip.bind, a.sip.port),
        http=(a.host, a.ari.port),
        ami=(a.host, a.ami.port),
        rtp=(a.sip.rtp_start, a.sip.rtp_end),
        sip_tls=(a.sip.bind, a.sip.tls_port) if a.sip.tls_port is not None else None,
    )


def engine_context(settings: Settings) -> dict[str, Any]:
    """Values the engine's Asterisk templates are rendered with (secrets included)."""
    a = settings.asterisk
    if a.ari.password is None or a.ami.password is None:
        raise SetupError("ARI/AMI passwords are not set; run `ivr setup` to generate them")
    context: dict[str, Any] = {
        "host": a.host,
        "language": settings.service.language,
        "max_calls": 0,
        "did": settings.service.did.lstrip("+"),
        "ari": {
            "port": a.ari.port,
            "username": a.ari.username,
            "app": a.ari.app,
            "password": a.ari.password.get_secret_value(),
        },
        "ami": {"port": a.ami.port, "username": a.ami.username, "password": a.ami.password.get_secret_value()},
        "ami_permit": "127.0.0.1/255.255.255.255" if a.host.startswith("127.") else f"{a.host}/255.255.255.255",
        "sip": a.sip.model_dump(),
        "trunk": a.trunk.model_dump(),
        "carrier_endpoint": CARRIER_ENDPOINT,  # the dial strings name the trunk by this
        "extra_modules": [],
        "prompts_dir": sounds_dirs(settings)[0],
        "engine_wait_tries": int(settings.ha.callers_wait_s),  # one more offer to the engine per second
        "run_user": RUN_USER,
        **_tls_context(settings),
    }
    # The desks' SIP WebSocket transport (pjsip.conf); no listener of its own: the HTTP server
    # stays on `host` (loopback), the console relays browsers to it.
    context["webrtc"] = a.webrtc.enabled
    return context


def _tls_context(settings: Settings) -> dict[str, Any]:
    """The TLS transport's certificate: made if missing, copied where Asterisk can read it."""
    if settings.asterisk.sip.tls_port is None:
        return {"tls": None, "etc_files": {}}
    ensure_sip_certificate(settings)
    cert, key = sip_certificate(settings)
    inner = engine_instance(settings).inner("etc")
    return {
        "tls": {"cert": f"{inner}/{TLS_CERT}", "key": f"{inner}/{TLS_KEY}"},
        "etc_files": {TLS_CERT: cert, TLS_KEY: key},
    }


def sounds_dirs(settings: Settings) -> tuple[str, Path]:
    """(where Asterisk reads the prompts, where the engine writes them)."""
    if settings.asterisk.managed.enabled:
        instance = engine_instance(settings)
        inner = f"{instance.inner('varlib')}/{PROMPTS_SUBDIR}"
        return inner, instance.host("varlib") / PROMPTS_SUBDIR
    configured = settings.asterisk.sounds_dir
    if configured is None:
        raise SetupError("asterisk.sounds_dir must be set when asterisk.managed.enabled is false")
    local = settings.prompts.install_dir or Path(configured)
    return configured, local


def operators_conf(settings: Settings) -> Path:
    """Where the generated PJSIP endpoints of the operators go (included by pjsip.conf)."""
    if settings.asterisk.managed.enabled:
        return engine_instance(settings).host("etc") / "pjsip_operators.conf"
    if settings.asterisk.operators_conf is None:
        raise SetupError("asterisk.operators_conf must be set when asterisk.managed.enabled is false")
    return settings.asterisk.operators_conf


def ensure_secrets(settings: Settings) -> bool:
    """Generate ARI/AMI passwords into the secrets file when missing (development profile only).

    Returns True when the file was written (settings must then be loaded again)."""
    a = settings.asterisk
    if a.ari.password is not None and a.ami.password is not None and settings.console.api_token is not None:
        return False
    if settings.profile == "production":
        raise SetupError("production profile: set asterisk.ari.password, asterisk.ami.password, console.api_token")
    path = settings.secrets_file
    data: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text()) or {}
        data = loaded if isinstance(loaded, dict) else {}
    if settings.console.api_token is None:
        data.setdefault("console", {})["api_token"] = secrets.token_urlsafe(32)
    ast = data.setdefault("asterisk", {})
    if a.ari.password is None:
        ast.setdefault("ari", {})["password"] = secrets.token_urlsafe(24)
    if a.ami.password is None:
        ast.setdefault("ami", {})["password"] = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.chmod(0o600)
    tmp.write_text("# Generated by `ivr setup`; keep private.\n" + yaml.safe_dump(data, sort_keys=True))
    tmp.replace(path)
    return True
