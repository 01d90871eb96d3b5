"""The real Asterisk pair for a test session: the engine's Asterisk and a lab carrier.

Both run from the cached Asterisk root on free loopback ports, under names unique to this
session, so a developer's own `ivr asterisk up` or a parallel run never clashes with the tests.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import secrets
import shutil
import socket
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.app import Engine, build_engine
from ivr.assembly import Assembly
from ivr.asterisk.instance import AsteriskInstance, AsteriskStartError, Ports, free_port
from ivr.asterisk.managed import engine_context, sounds_dirs
from ivr.asterisk.root import AsteriskRoot, Recipe
from ivr.clock import Clock
from ivr.configfile import deep_merge
from ivr.lab.carrier import CarrierLayout, LabCarrier
from ivr.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "nul.yaml"
ARTIFACTS = REPO / "test-artifacts"
ENGINE_HOST = "127.0.0.1"
# Engines under test run on a clock set to an ordinary open moment (a Tuesday morning in Rome),
# so no test depends on today's date; tests that need another moment set their own.
OPEN_MOMENT = "2026-02-10T10:00:00+01:00"
CARRIER_HOST = "127.0.0.2"


def cache_dir() -> Path:
    return Path(os.environ.get("NUL_ASTERISK_CACHE", "/var/cache/nul"))


def free_udp_range(size: int, half: int) -> tuple[int, int]:
    """A block of UDP ports that looks unused (RTP for one instance). Each test worker draws from
    its own band, the engine (half 0) and the carrier (half 1) from its two halves: an Asterisk
    binds its RTP ports only during calls, so a range that looks free now could overlap one in
    use a minute later."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) % 8 if worker.isdigit() else 0  # up to eight workers, 20000-59999
    low = 20000 + index * 5000 + half * 2500
    high = low + 2500
    for _ in range(200):
        base = random.randrange(low, high - size, 2)
        ok = True
        for port in range(base, base + size, max(1, size // 20)):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                try:
                    sock.bind(("0.0.0.0", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base, base + size - 1
    raise RuntimeError("no free UDP range for RTP")


@dataclass
class PbxPair:
    root: AsteriskRoot
    name: str
    engine_asterisk: AsteriskInstance
    carrier: LabCarrier
    overrides: dict[str, Any]
    engine_ports: Ports

    def settings(self, data_dir: Path, extra: dict[str, Any] | None = None) -> Settings:
        """Settings of an engine that talks to this pair; `extra` overrides on top."""
        merged: dict[str, Any] = {"clock": {"start": OPEN_MOMENT}}
        deep_merge(merged, self.overrides)
        deep_merge(merged, {"paths": {"data_dir": str(data_dir)}})
        if extra:
            deep_merge(merged, extra)
        return load_settings(CONFIG, environ={"IVR_SECRETS_FILE": str(data_dir / "no-secrets.yaml")}, overrides=merged)

    def restart_engine_asterisk(self) -> None:
        """Stop and start the engine's Asterisk on the same ports (every call on it is lost)."""
        self.engine_asterisk.stop()
        self.engine_asterisk.start(self.engine_ports)

    def stop(self) -> None:
        for instance in (self.carrier.instance, self.engine_asterisk):
            with contextlib.suppress(Exception):
                instance.stop()
            _keep_logs(instance)
            for kind in ("etc", "run", "spool", "log", "varlib", "cache"):
                shutil.rmtree(instance.host(kind), ignore_errors=True)


def _keep_logs(instance: AsteriskInstance) -> None:
    target = ARTIFACTS / "asterisk" / instance.name
    target.mkdir(parents=True, exist_ok=True)
    for name in ("messages.log", "console.log"):
        source = instance.host("log") / name
        if source.exists():
            shutil.copyfile(source, target / name)


def start_pair(
    prompts_dir: Path, attempts: int = 3, sip_host: str = ENGINE_HOST, name: str = "", callers_wait_s: float = 2.0
) -> PbxPair:
    """Ports are picked free, but another process may take one before Asterisk binds it: then
    the pair is tried again on other ports. `sip_host`: the engine Asterisk's SIP address (where
    operators reach it; a test's own network namespace sees it on another address than loopback);
    `name`: the instances' name, when a test runs a pair beside the session's; `callers_wait_s`:
    how long a caller rings while no engine takes calls (short in tests that hear the notice)."""
    for attempt in range(1, attempts + 1):
        try:
            return _start_pair(prompts_dir, sip_host, name or f"t{os.getpid()}", callers_wait_s)
        except AsteriskStartError as exc:
            if "ports already in use" not in str(exc) or attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _start_pair(prompts_dir: Path, sip_host: str, name: str, callers_wait_s: float) -> PbxPair:
    root = AsteriskRoot(cache_dir(), Recipe())
    root.ensure()
    password = secrets.token_urlsafe(16)
    ports = {
        "sip": free_port(sip_host, socket.SOCK_DGRAM),
        "sip_tls": free_port(sip_host),
        "ari": free_port(),
        "ami": free_port(),
    }
    rtp = free_udp_range(1000, half=0)
    overrides: dict[str, Any] = {
        "asterisk": {
            "host": ENGINE_HOST,
            "ari": {"port": ports["ari"], "password": password},
            "ami": {"port": ports["ami"], "password": password},
            "sip": {
                "bind": sip_host,
                "port": ports["sip"],
                "tls_port": ports["sip_tls"],
                "rtp_start": rtp[0],
                "rtp_end": rtp[1],
            },
            "managed": {"enabled": True, "cache_dir": str(cache_dir()), "instance": name},
            "webrtc": {"enabled": True},
        },
        "prompts": {"build_dir": str(prompts_dir), "speed_wpm": 230},  # short audio keeps the suite fast
        "console": {"port": free_port(), "api_token": secrets.token_urlsafe(24)},
        "ha": {"callers_wait_s": callers_wait_s},
    }
    carrier_sip = free_port(CARRIER_HOST, socket.SOCK_DGRAM)
    overrides["asterisk"]["trunk"] = {"host": CARRIER_HOST, "port": carrier_sip}
    probe = load_settings(
        CONFIG,
        environ={"IVR_SECRETS_FILE": "/nonexistent"},
        overrides={**overrides, "paths": {"data_dir": str(prompts_dir)}},
    )
    engine_ast = AsteriskInstance(root, name, [probe.asterisk_config_dir / "engine"])
    engine_ast.render(engine_context(probe))
    carrier = LabCarrier(
        root,
        [probe.asterisk_config_dir / "carrier", probe.asterisk_config_dir / "engine"],
        CarrierLayout(
            name=f"{name}-lab",
            host=CARRIER_HOST,
            sip_port=carrier_sip,
            ari_port=free_port(CARRIER_HOST),
            rtp=free_udp_range(1000, half=1),
            engine_host=sip_host,
            engine_sip_port=ports["sip"],
            password=secrets.token_urlsafe(16),
        ),
    )
    engine_ports = Ports(
        sip=(sip_host, ports["sip"]),
        http=(ENGINE_HOST, ports["ari"]),
        ami=(ENGINE_HOST, ports["ami"]),
        rtp=rtp,
        sip_tls=(sip_host, ports["sip_tls"]),
    )
    pair = PbxPair(root, name, engine_ast, carrier, overrides, engine_ports)
    prompts = Assembly(probe).prompts
    prompts.build()
    prompts.install(sounds_dirs(probe)[1])
    try:
        engine_ast.start(engine_ports)
        carrier.start()
    except Exception:
        pair.stop()
        raise
    return pair


@contextlib.asynccontextmanager
async def connected(pair: PbxPair) -> AsyncIterator[PbxPair]:
    """The pair with the lab carrier's ARI client connected; both Asterisks stopped after, even
    when the connection failed."""
    try:
        await pair.carrier.connect()
        yield pair
    finally:
        await pair.carrier.close()
        pair.stop()


@contextlib.asynccontextmanager
async def running_engine(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Engine]:
    engine = build_engine(settings, clock=clock)
    await engine.start(connect_timeout=15)
    try:
        yield engine
    finally:
        await engine.stop(drain_s=2.0)


def ari_get(pbx: PbxPair, what: str) -> Any:
    """GET /ari/<what> on the engine's Asterisk, asked directly (the engine and its store may be away)."""
    ari = pbx.overrides["asterisk"]["ari"]
    token = base64.b64encode(f"nul:{ari['password']}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{ari['port']}/ari/{what}", headers={"Authorization": f"Basic {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def left_on_asterisk(pbx: PbxPair) -> list[str]:
    """Channels and bridges still on the engine's Asterisk, asked over ARI."""
    return [f"{what[:-1]} {item['id']}" for what in ("channels", "bridges") for item in ari_get(pbx, what)]
