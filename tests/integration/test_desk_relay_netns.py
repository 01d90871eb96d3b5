"""An operator at home, for real: a network namespace this test creates, joined to the host by a
veth pair, plays the operator's network. Asterisk's SIP and the console listen on the host's veth
address, as they would on the address operators reach. From the namespace, no port of Asterisk
answers `POST /ari/channels` (not even with ARI's password), an anonymous WebSocket to the
console's /ws is refused, and a desk logged into the console registers its phone over /ws (the
digest challenge, then 200 OK) with the SIP password its console session was given; the call then
offered to it over the relay brings its media to the address operators reach."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr.asterisk.instance import free_port
from ivr.settings import Settings
from tests.console_support import PASSWORD
from tests.harness.pbx import PbxPair, running_engine, start_pair

pytestmark = pytest.mark.asterisk
CLIENT = Path(__file__).resolve().parents[1] / "harness" / "ns_desk_client.py"
REPO = Path(__file__).resolve().parents[2]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /30 in 10.231.0.0/16 no interface of this host uses (tests of other runs may have theirs)."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], check=True, capture_output=True, text=True).stdout
    start = os.getpid() % 16000
    for i in range(16384):
        net = list(ipaddress.ip_network("10.231.0.0/16").subnets(new_prefix=30))[(start + i) % 16384]
        if f" {net[1]}/" not in used and f" {net[2]}/" not in used:
            return net
    raise RuntimeError("no free /30 in 10.231.0.0/16")


@pytest.fixture
def home() -> Iterator[tuple[str, str]]:
    """(namespace, the host's address seen from it)."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("ip") is None:
        pytest.skip("no `ip` command (iproute2)")
    tag = os.getpid() % 100000
    ns, host_if, ns_if = f"nul-home-{tag}", f"nulh{tag}", f"nuln{tag}"
    net = _free_subnet()
    host_addr, ns_addr = str(net[1]), str(net[2])
    try:
        _ip("netns", "add", ns)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{host_addr}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", ns, "addr", "add", f"{ns_addr}/30", "dev", ns_if)
        _ip("-n", ns, "link", "set", ns_if, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        yield ns, host_addr
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", host_if)  # its peer in the namespace goes with it
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", ns)


@pytest.fixture
def pbx_at_home(prompts_cache: Path, home: tuple[str, str]) -> Iterator[PbxPair]:
    """The engine's Asterisk with its SIP on the address operators reach (the veth's)."""
    pair = start_pair(prompts_cache, sip_host=home[1], name=f"t{os.getpid()}-home")  # beside the session's
    try:
        yield pair
    finally:
        pair.stop()


def _listening_ports(pid: int) -> set[int]:
    """Every TCP port the process listens on, whatever the address."""
    out = subprocess.run(["ss", "-ltnpH"], check=True, capture_output=True, text=True).stdout
    ports = set()
    for line in out.splitlines():
        if f"pid={pid}," in line:
            ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    return ports


async def test_from_home_ari_is_unreachable_and_the_desk_registers_through_the_console(
    pbx_at_home: PbxPair, home: tuple[str, str], tmp_path: Path
) -> None:
    ns, host_addr = home
    pbx = pbx_at_home
    console_port = free_port(host_addr)
    settings = pbx.settings(tmp_path, {"console": {"bind": host_addr, "port": console_port}})
    async with running_engine(settings) as engine:
        now = engine.clock.now()
        await engine.operators.add("anna", "Anna", now=now)
        await engine.operator_sync.run_once()
        assert engine.http is not None and engine.http.console is not None
        await engine.http.console.accounts.add("anna", "operator", PASSWORD, now, name="Anna", operator="anna")
        proc = pbx.engine_asterisk.proc
        assert proc is not None
        ports = sorted(_listening_ports(proc.pid) | {settings.asterisk.ari.port})
        a = settings.asterisk
        assert a.ari.password is not None
        args: dict[str, Any] = {
            "host": host_addr,
            "console_port": console_port,
            "login": "anna",
            "password": PASSWORD,
            "ports": ports,
            "ari_user": a.ari.username,
            "ari_password": a.ari.password.get_secret_value(),
        }
        client = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns, sys.executable, str(CLIENT), json.dumps(args),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
        assert client.stdout is not None
        line = await client.stdout.readline()  # the engine keeps serving meanwhile
        if line.strip() == b"REGISTERED":
            await _ring_the_desk(settings, "anna")
            line = await client.stdout.readline()
        _out, err = await client.communicate()
        assert client.returncode == 0, err.decode()
        seen = json.loads(line)

    # (a) Nothing of Asterisk's answers HTTP from home: ARI's port is closed there, and no other
    # port (SIP over TLS, ...) is an HTTP server.
    assert seen["ari"][str(a.ari.port)] == {"http": "refused", "https": "refused"}, seen["ari"]
    answered = {port: got for port, got in seen["ari"].items() if any(v.startswith("http ") for v in got.values())}
    assert answered == {}, f"ARI answered from the namespace: {answered}"
    # (c) The relay refuses a socket without a session, and a page of another site.
    assert seen["anonymous"] == 401
    assert seen["foreign_origin"] == 403
    # (b) The desk registers through the console: challenged, then accepted.
    assert seen["register"] == ["SIP/2.0 401 Unauthorized", "SIP/2.0 200 OK"], seen["register"]
    # Only signalling went through the console: the call Asterisk offers the desk over the relay
    # brings its media to the address operators reach (an ICE host candidate there, DTLS-SRTP).
    offer = seen["offer"]
    assert offer is not None and "RTP/SAVPF" in offer and "a=fingerprint:" in offer
    candidates = [line for line in offer.splitlines() if line.startswith("a=candidate:")]
    assert any(f" {host_addr} " in c and " typ host" in c for c in candidates), offer


async def _ring_the_desk(settings: Settings, login: str) -> None:
    """A call to the desk's phone, placed straight on ARI (on loopback, from the engine's host)."""
    a = settings.asterisk
    assert a.ari.password is not None
    basic = base64.b64encode(f"{a.ari.username}:{a.ari.password.get_secret_value()}".encode()).decode()
    query = {"endpoint": f"PJSIP/web-{login}", "context": "from-operators", "extension": "1", "priority": "1"}
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Basic {basic}"}) as session,
        session.post(f"http://{a.host}:{a.ari.port}/ari/channels", params=query) as response,
    ):
        assert response.status == 200, await response.text()
