"""Operations without Asterisk: systemd units (checked by systemd-analyze when present), the
sd_notify protocol against a socket the test listens on, log lines with call and ticket ids and
masked numbers (text and JSON), `ivr doctor` verdicts, the metrics page's names and access."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import io
import json
import logging
import shutil
import socket
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ivr.asterisk.instance import free_port
from ivr.cli import main
from ivr.logcontext import CallFields, bind_call
from ivr.logsetup import CallFormatter, JsonFormatter
from ivr.ops import doctor, sdnotify
from ivr.ops.config import MetricsSettings
from ivr.ops.figures import StoreFigures
from ivr.ops.http import ops_routes
from ivr.ops.metrics import Metrics, Sources
from ivr.ops.services import ASTERISK_UNIT, ENGINE_UNIT, STANDBY_UNIT
from ivr.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    base = {"paths": {"data_dir": str(tmp_path / "var")}, **overrides}
    return load_settings(
        REPO / "config" / "nul.yaml", environ={"IVR_SECRETS_FILE": str(tmp_path / "s.yaml")}, overrides=base
    )


# --- systemd units ---------------------------------------------------------------------------


def test_service_install_writes_hardened_units(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    assert main(["service", "install", "--root", str(root)]) == 0
    units = root / "etc/systemd/system"
    engine = (units / ENGINE_UNIT).read_text()
    standby = (units / STANDBY_UNIT).read_text()
    asterisk = (units / ASTERISK_UNIT).read_text()
    for text in (engine, standby, asterisk):
        for line in ("Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes"):
            assert line in text
        assert "ReadWritePaths=" in text and "CapabilityBoundingSet=CAP_" in text
        assert "ProtectHome=" in text
    assert "Type=notify" in engine and "WatchdogSec=" in engine and "run --no-asterisk" in engine
    assert "service check" in engine and "Requires=nul-asterisk.service" in engine
    assert "run --no-asterisk --standby" in standby and "Conflicts=nul-engine.service" in standby
    assert "CAP_SYS_CHROOT" in asterisk and "asterisk up" in asterisk
    rotate = (root / "etc/logrotate.d/nul-asterisk").read_text()
    assert "console.log" in rotate and "copytruncate" in rotate
    if shutil.which("systemd-analyze") is None:
        return
    for name in (ENGINE_UNIT, STANDBY_UNIT, ASTERISK_UNIT):
        done = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(units / name)],
            capture_output=True,
            text=True,
            check=False,
            env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == 0, done.stderr
        assert name not in done.stderr, done.stderr  # no warning about the unit itself


# --- sd_notify ---------------------------------------------------------------------------------


async def test_sd_notify_ready_and_watchdog_reach_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        listener.settimeout(5)
        env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"}
        assert sdnotify.notify("READY=1\nSTATUS=pronto", env)
        assert listener.recv(256) == b"READY=1\nSTATUS=pronto"
        interval = sdnotify.watchdog_interval(env)
        assert interval == pytest.approx(0.1)
        task = asyncio.create_task(sdnotify.keep_alive(interval, lambda: "2 calls", env))
        got = [await asyncio.to_thread(listener.recv, 256) for _ in range(3)]
        task.cancel()
        assert got == [b"WATCHDOG=1\nSTATUS=2 calls"] * 3
    assert not sdnotify.notify("READY=1", {})  # not under systemd: nothing to do
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}) is None


# --- logs ----------------------------------------------------------------------------------------


def _lines(formatter: logging.Formatter, personal: bool) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(CallFields(personal_data=personal))
    logger = logging.getLogger("test.ops.calls")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:

        async def a_call() -> None:
            bind_call("1740000000.7", 42, "+393471234567")
            logger.info("call from %s, callback 0612345678", "+393471234567")
            await asyncio.sleep(0)

        asyncio.run(a_call())
        logger.info("outside any call")
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_log_lines_carry_call_and_ticket_and_mask_numbers() -> None:
    text = _lines(CallFormatter(), personal=False)
    first, second = text.splitlines()
    assert "[call 1740000000.7 ticket 42] call from ***567, callback ***678" in first
    assert "3471234567" not in text and "0612345678" not in text
    assert "[call" not in second  # the context stayed with the call's task
    assert "1234567" in _lines(CallFormatter(), personal=True)

    records = [json.loads(line) for line in _lines(JsonFormatter(), personal=False).splitlines()]
    assert records[0]["call_id"] == "1740000000.7" and records[0]["ticket_id"] == 42
    assert records[0]["message"] == "call from ***567, callback ***678"
    assert "call_id" not in records[1] and records[1]["level"] == "INFO"


# --- doctor --------------------------------------------------------------------------------------


def _certificate(path: Path, days: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nul.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_doctor_port_taken_certificate_expiring_database_and_smtp(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cert, key = tmp_path / "sip.crt", tmp_path / "sip.key"
        _certificate(cert, days=10)
        key.write_text("key")
        ca = tmp_path / "ca.pem"
        _certificate(ca, days=400)
        smtp_port = free_port()
        smtp = Controller(object(), hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        try:
            s = settings_for(
                tmp_path,
                console={"port": port},
                asterisk={"sip": {"tls_cert": str(cert), "tls_key": str(key)}},
                mail={"host": "127.0.0.1", "port": smtp_port, "tls": "none", "ca_file": str(ca)},
            )
            found = {(f.check, f.verdict): f for f in doctor.run_checks(s)}
        finally:
            smtp.stop()
    ports = found[("ports", doctor.FAIL)]
    assert str(port) in ports.detail and f"sport = :{port}" in ports.fix
    assert "expires in" in found[("certificates", doctor.WARN)].detail
    assert "mail CA: valid until" in found[("certificates", doctor.OK)].detail
    assert "no database" in found[("database", doctor.FAIL)].detail
    assert ("smtp", doctor.OK) in found
    assert ("clock", doctor.OK) in found or ("clock", doctor.WARN) in found
    assert "ivr doctor" not in doctor.report(list(found.values()))  # each line says its own fix


def test_doctor_fails_while_asterisk_still_serves_http_where_operators_reach_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An Asterisk whose http.conf kept the old TLS listener for the desks (ARI answers there) is
    named with the fix; without it the check says how desks connect now."""

    class StaleAri(http.server.BaseHTTPRequestHandler):
        def version_string(self) -> str:
            return "Asterisk/22.10.1"

        def do_GET(self) -> None:  # what Asterisk's HTTP server says to ARI without a password
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    settings = settings_for(tmp_path)  # desks on, SIP on 127.0.0.1
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StaleAri)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(doctor, "LEGACY_WSS_PORT", server.server_address[1])
        (stale,) = doctor.check_desk_phones(settings)
    finally:
        server.shutdown()
        server.server_close()
    assert stale.verdict == doctor.FAIL and "http 401" in stale.detail and "http.conf" in stale.fix
    monkeypatch.setattr(doctor, "LEGACY_WSS_PORT", free_port())
    (fine,) = doctor.check_desk_phones(settings)
    assert fine.verdict == doctor.OK and "/ws" in fine.detail


def test_doctor_names_a_trunk_at_an_address_operators_phones_come_from(tmp_path: Path) -> None:
    """Asterisk knows the carrier by its address before any username: a phone coming from the
    trunk's address is taken for the carrier and never registers (the desk only tried again)."""
    from sqlalchemy.orm import Session

    from ivr.ops.doctor_trunk import check_trunk
    from ivr.schema.console import ConsoleSession, ConsoleUser
    from ivr.tickets.db import make_engine, upgrade

    def verdict(host: str) -> doctor.Finding:
        (found,) = check_trunk(settings_for(tmp_path, asterisk={"trunk": {"host": host}}))
        return found

    relay = verdict("127.0.0.1")  # where the console's desk relay reaches Asterisk from
    assert relay.verdict == doctor.FAIL and "desks' phones reach Asterisk from 127.0.0.1" in relay.detail
    assert "asterisk.trunk.host" in relay.fix
    lab = verdict("127.0.0.2")
    assert lab.verdict == doctor.WARN and "the lab carrier's" in lab.detail
    assert verdict("192.0.2.10").verdict == doctor.OK  # no database yet: none made by the check
    assert not (tmp_path / "var").exists() or not list((tmp_path / "var").glob("*.db"))

    engine = make_engine(settings_for(tmp_path).database_url)
    upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as db, db.begin():
        user = ConsoleUser(login="mario", name="Mario", role="operator", password_hash="x", created_at=now)
        db.add(user)
        db.flush()
        db.add(ConsoleSession(token_hash="t", user_id=user.id, csrf="c", created_at=now, last_seen_at=now,
                              address="192.0.2.10"))  # fmt: skip
    engine.dispose()
    home = verdict("192.0.2.10")
    assert home.verdict == doctor.FAIL and "operators' browsers came from 192.0.2.10" in home.detail
    assert verdict("192.0.2.11").verdict == doctor.OK


def test_doctor_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "nul.yaml"
    config.write_text(
        f"paths: {{data_dir: {tmp_path / 'var'}}}\nsecrets_file: {tmp_path / 's.yaml'}\n"
        f"callflow: {REPO / 'config/callflows/main.yaml'}\nprompts: {{texts: {REPO / 'config/prompts/it.yaml'}}}\n"
    )
    assert main(["-c", str(config), "doctor"]) == 1  # no database, no ARI password
    out = capsys.readouterr().out
    assert "FAIL  database" in out and "-> run: ivr setup" in out


# --- metrics page ------------------------------------------------------------------------------


async def _figures() -> StoreFigures:
    return StoreFigures(calls_today={"voicemail": 2}, admitted_today=4, answered_in_sl_today=3, administrators=1)


async def _cap() -> int:
    return 4


async def _resync() -> int:
    return 0


def _metrics() -> Metrics:
    sources = Sources(
        calls_by_state=lambda: {"queue": 2},
        queue_waits=lambda: [3.0, 41.5],
        operators_by_state=lambda: {"busy": 1},
        cap_used=_cap,
        cap_limit=400,
        outbox_backlog=lambda: 0,
        outbox_rejected=lambda: 0,
        store_degraded=lambda: False,
        figures=_figures,
        ari_up=lambda: True,
        ami_up=lambda: True,
        db_connections=lambda: 3,
        call_states=["menu", "queue"],
        operator_states=["available", "busy"],
        outcomes=["completed", "voicemail"],
    )
    return Metrics(sources, "0.2.0")


async def test_metrics_names_values_and_access() -> None:
    metrics = _metrics()
    app = web.Application()
    app.add_routes(ops_routes(metrics, MetricsSettings(), _resync))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        text = await response.text()
        proxied = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status == 403
    for line in (
        'nul_calls_in_progress{state="queue"} 2.0',
        'nul_calls_in_progress{state="menu"} 0.0',
        "nul_queue_waiting_calls 2.0",
        "nul_queue_longest_wait_seconds 41.5",
        'nul_operators{state="available"} 0.0',
        "nul_daily_cap_used 4.0",
        "nul_daily_cap_limit 400.0",
        "nul_service_level_ratio 0.75",
        'nul_calls_today{outcome="voicemail"} 2.0',
        'nul_calls_ended_total{outcome="completed"} 0.0',
        "nul_console_administrators 1.0",
        "nul_db_connections 3.0",
        "nul_asyncio_tasks ",
        'nul_asyncio_tasks_by_coroutine{coroutine="test_metrics_names_values_and_access"} 1.0',
        "process_resident_memory_bytes ",
        "process_open_fds ",
        'nul_build_info{python="',
    ):
        assert line in text, line

    with_token = web.Application()
    with_token.add_routes(ops_routes(metrics, MetricsSettings(token="s3greto-per-prometheus"), _resync))
    async with TestClient(TestServer(with_token, host="127.0.0.1")) as client:
        assert (await client.get("/metrics")).status == 403
        ok = await client.get("/metrics", headers={"Authorization": "Bearer s3greto-per-prometheus"})
        assert ok.status == 200


def test_grafana_dashboard_uses_only_metrics_that_exist() -> None:
    import re

    board = json.loads((REPO / "ops/grafana/nul.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    names = {n for e in exprs for n in re.findall(r"\bnul_[a-z_]+", e)}
    families = [f.name for f in _metrics().registry.collect()]
    known = {f + suffix for f in families for suffix in ("", "_total", "_bucket", "_count", "_sum", "_info")}
    assert names and names <= known, names - known


async def test_metrics_count_alerts_in_force_and_raised() -> None:
    """Every kind at both levels from the first scrape (0 until raised); raised counted as the
    watch counts them, however many scrapes come between."""
    raised: dict[tuple[str, str], int] = {}
    now: dict[tuple[str, str], int] = {}
    metrics = Metrics(
        replace(_metrics().sources, alerts=lambda: now, alerts_raised=lambda: raised, alert_kinds=["cap", "paused"]),
        "0.2.0",
    )
    text = (await metrics.render()).decode()
    assert 'nul_alerts{kind="paused",level="red"} 0.0' in text
    assert 'nul_alerts_raised_total{kind="cap",level="amber"} 0.0' in text
    now[("paused", "amber")] = 2
    raised[("paused", "amber")] = 3
    await metrics.render()
    text = (await metrics.render()).decode()
    assert 'nul_alerts{kind="paused",level="amber"} 2.0' in text
    assert 'nul_alerts_raised_total{kind="paused",level="amber"} 3.0' in text
