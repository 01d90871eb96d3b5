"""Secrets: required in production, Asterisk's ARI and AMI on loopback, never in a log or a URL.

The log tests run the real code paths with recognisable secret values at the most verbose level
the product offers (`-v`), keep every log record before any redaction, and scan it all: the
records, what reached standard error, what was printed, and what the fake servers were sent.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from ivr.asterisk.instance import AsteriskInstance, free_port
from ivr.asterisk.managed import asterisk_root, engine_context, ensure_secrets
from ivr.cli import main
from ivr.configfile import ConfigError
from ivr.errors import SetupError
from ivr.logsetup import setup_logging
from ivr.settings import Settings, load_settings
from ivr.telephony.ami import AmiMonitor
from ivr.telephony.ari import AriClient
from ivr.telephony.errors import AriError, AriUnavailable, NotFound
from tests.unit.cli_logging import keep_logging, logging_restored

REPO = Path(__file__).resolve().parents[2]
__all__ = ["keep_logging"]  # restores the root logger after each test (the CLI replaces it)
ARI_SECRET = "ari-SECRET-7f3a9c1e"
AMI_SECRET = "ami-SECRET-2b8d4e6f"
DB_SECRET = "db-SECRET-9e1c5a7b"
API_SECRET = "api-SECRET-4d6f8a2c-0b1e9d73f5"
MAIL_SECRET = "mail-SECRET-1a3c5e7g"
SECRETS = (ARI_SECRET, AMI_SECRET, DB_SECRET, API_SECRET, MAIL_SECRET)
ARI_TOKEN = base64.b64encode(f"nul:{ARI_SECRET}".encode()).decode()  # the Basic credentials, as sent
SECRET_ENV = {
    "IVR_ASTERISK__ARI__PASSWORD": ARI_SECRET,
    "IVR_ASTERISK__AMI__PASSWORD": AMI_SECRET,
    "IVR_DATABASE__URL": f"postgresql+psycopg://nul:{DB_SECRET}@127.0.0.1:1/nul",
    "IVR_CONSOLE__API_TOKEN": API_SECRET,
    "IVR_MAIL__PASSWORD": MAIL_SECRET,
    "IVR_MAIL__USERNAME": "nul",
}


def _leaks(text: str) -> list[str]:
    return [s for s in (*SECRETS, ARI_TOKEN) if s in text]


class KeepAll(logging.Handler):
    """Every record as formatted before the product's redaction filter gets to it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    env = {**SECRET_ENV, "IVR_SECRETS_FILE": str(tmp_path / "none.yaml")}
    return load_settings(REPO / "config" / "nul.yaml", environ=env)


@pytest.fixture
def records(settings: Settings) -> Iterator[KeepAll]:
    """The product's logging at its most verbose (`ivr -v`), with every record kept raw."""
    with logging_restored():
        setup_logging("DEBUG", settings)
        keep = KeepAll()
        logging.getLogger().handlers.insert(0, keep)  # before the redacting handler: sees what callers wrote
        yield keep


# --- production needs every secret given ------------------------------------------------------


@pytest.mark.parametrize(
    "missing",
    [
        "IVR_ASTERISK__ARI__PASSWORD",
        "IVR_ASTERISK__AMI__PASSWORD",
        "IVR_DATABASE__URL",
        "IVR_CONSOLE__API_TOKEN",
        "IVR_MAIL__PASSWORD",  # needed because mail.username is set
    ],
)
def test_production_refuses_to_start_without_each_secret(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in SECRET_ENV.items() if k != missing}
    env.update(IVR_PROFILE="production", IVR_SECRETS_FILE=str(tmp_path / "none.yaml"))
    with pytest.raises(ConfigError) as err:
        load_settings(REPO / "config" / "nul.yaml", environ=env)
    field = missing.removeprefix("IVR_").lower().replace("__", ".")
    assert "production profile needs explicit secrets" in str(err.value) and field in str(err.value)
    assert not _leaks(str(err.value))
    complete = {**SECRET_ENV, "IVR_PROFILE": "production", "IVR_SECRETS_FILE": str(tmp_path / "none.yaml")}
    assert load_settings(REPO / "config" / "nul.yaml", environ=complete).profile == "production"


def test_production_never_generates_secrets(tmp_path: Path) -> None:
    env = {"IVR_PROFILE": "production", "IVR_SECRETS_FILE": str(tmp_path / "secrets.yaml"), **SECRET_ENV}
    settings = load_settings(REPO / "config" / "nul.yaml", environ=env)
    partial = settings.model_copy(update={"console": settings.console.model_copy(update={"api_token": None})})
    with pytest.raises(SetupError, match="production"):
        ensure_secrets(partial)
    assert not (tmp_path / "secrets.yaml").exists()


def test_a_wrong_secret_is_reported_without_its_value(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_text(f"asterisk:\n  ari:\n    password: [{ARI_SECRET}]\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={"IVR_SECRETS_FILE": str(tmp_path / "none.yaml")})
    assert "asterisk.ari.password" in str(err.value) and not _leaks(str(err.value))


# --- the shipped Asterisk templates keep ARI and AMI on loopback -----------------------------


def test_rendered_defaults_bind_ari_and_ami_to_loopback(tmp_path: Path, settings: Settings) -> None:
    local = settings.model_copy(
        update={"asterisk": settings.asterisk.model_copy(update={"managed": settings.asterisk.managed.model_copy(
            update={"cache_dir": tmp_path / "cache"})})}
    )  # fmt: skip
    root = asterisk_root(local)
    (root.path / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True)
    (root.path / "etc").mkdir()
    (root.path / "etc/passwd").write_text("asterisk:x:60100:60100:Asterisk:/var/lib/asterisk:/bin/false\n")
    instance = AsteriskInstance(root, "nul", [REPO / "config" / "asterisk" / "engine"])
    instance.render(engine_context(local))
    etc = instance.host("etc")
    http = (etc / "http.conf").read_text()
    manager = (etc / "manager.conf").read_text()
    assert re.search(r"^bindaddr = 127\.0\.0\.1$", http, re.M)
    assert re.search(r"^bindaddr = 127\.0\.0\.1$", manager, re.M)
    assert re.search(r"^deny = 0\.0\.0\.0/0\.0\.0\.0$", manager, re.M)
    assert re.findall(r"^permit = (.*)$", manager, re.M) == ["127.0.0.1/255.255.255.255"]
    # The desks' phones are on (the default), yet the HTTP server (ARI) has no other listener:
    # browsers reach its SIP WebSocket only through the console's relay.
    assert local.asterisk.webrtc.enabled
    assert re.findall(r"^(\w*bindaddr) = (.*)$", http, re.M) == [("bindaddr", "127.0.0.1")]
    assert not re.search(r"^tls", http, re.M)
    for name in ("ari.conf", "manager.conf"):  # the files holding secrets: root's, Asterisk's group reads
        info = (etc / name).stat()
        assert stat.S_IMODE(info.st_mode) == 0o640 and (info.st_uid, info.st_gid) == (0, 60100)
    assert ARI_SECRET in (etc / "ari.conf").read_text() and AMI_SECRET in manager
    # A caller arriving while no engine takes calls (a takeover) rings and is offered again once a
    # second, ha.callers_wait_s times, before the "service unavailable" notice.
    dialplan = (etc / "extensions.conf").read_text()
    assert f"GotoIf($[${{NUL_WAITED}} >= {int(local.ha.callers_wait_s)}]?down)" in dialplan
    assert "same => n,Goto(offer)" in dialplan and "same => n(down),Answer()" in dialplan


# --- no secret in logs, printed output or URLs ------------------------------------------------


def test_config_show_masks_every_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in SECRET_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("IVR_SECRETS_FILE", str(tmp_path / "none.yaml"))
    with logging_restored():
        assert main(["-v", "-c", str(REPO / "config" / "nul.yaml"), "config", "show"]) == 0
    out = capsys.readouterr()
    assert '"api_token": "**********"' in out.out and '"url": "**********"' in out.out
    assert _leaks(out.out + out.err) == []


def test_every_secret_is_redacted_by_the_log_handler(
    capsys: pytest.CaptureFixture[str], settings: Settings, records: KeepAll
) -> None:
    log = logging.getLogger("ivr.test")
    for secret in SECRETS:
        log.error("oops, someone logged %s", secret)
    err = capsys.readouterr().err
    assert err.count("oops, someone logged ***") == len(SECRETS)
    assert _leaks(err) == []


class FakeAri:
    """Asterisk's HTTP side as far as the client needs it; remembers every URL it was asked for."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.auth: list[str] = []
        self.sockets = 0
        self.reconnected = asyncio.Event()

    def app(self) -> web.Application:
        @web.middleware
        async def remember(request: web.Request, handler: Any) -> web.StreamResponse:
            self.urls.append(str(request.url))
            self.auth.append(request.headers.get("Authorization", ""))
            return await handler(request)

        app = web.Application(middlewares=[remember])

        def answer(body: Any, status: int = 200) -> Any:
            async def handler(request: web.Request) -> web.Response:
                return web.json_response(body, status=status)

            return handler

        app.router.add_get("/ari/events", self.events)
        app.router.add_get("/ari/channels", answer([]))
        app.router.add_post("/ari/channels/{id}/answer", answer({"message": "no"}, 404))
        app.router.add_get("/ari/boom", answer({"message": "broken"}, 500))
        return app

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets += 1
        if self.sockets == 2:
            self.reconnected.set()
        await ws.send_str('{"type": "StasisStart", "channel": "junk"}')
        if self.sockets == 1:
            await ws.close()  # a dropped socket: the client reconnects (and logs it)
        else:
            async for msg in ws:
                if msg.type == WSMsgType.CLOSE:
                    break
        return ws


async def test_the_ari_client_keeps_its_password_out_of_urls_and_logs(records: KeepAll) -> None:
    fake = FakeAri()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    client = AriClient(f"http://127.0.0.1:{server.port}", "nul", "nul", ARI_SECRET, reconnect_max_s=0.2)
    errors: list[str] = []
    try:
        await client.start()
        await client.wait_connected(5)
        await asyncio.wait_for(fake.reconnected.wait(), 5)
        await client.wait_connected(5)
        assert await client.get("channels") == []
        for call in (client.post("channels/x/answer"), client.get("boom")):
            try:
                await call
            except (NotFound, AriError) as exc:
                errors.append(str(exc))
        dead = AriClient(f"http://127.0.0.1:{free_port()}", "nul", "nul", ARI_SECRET, retry_window_s=0.3)
        await dead.start()
        try:
            await dead.get("channels")
        except AriUnavailable as exc:
            errors.append(str(exc))
        finally:
            await dead.close()
    finally:
        await client.close()
        await server.close()
    assert len(errors) == 3 and fake.sockets >= 2
    assert set(fake.auth) == {f"Basic {ARI_TOKEN}"}  # the password travels in a header only
    assert fake.urls and _leaks("\n".join(fake.urls)) == []
    assert any("reconnect" in line for line in records.lines)  # the logging path really ran
    assert _leaks("\n".join(records.lines + errors)) == []


class FakeAmi:
    """A manager interface that checks the login and answers pings."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.received: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                text = raw.decode()
                self.received.append(text)
                found = re.search(r"ActionID: (\S+)", text)
                action_id = found.group(1) if found else ""
                if text.startswith("Action: Login"):
                    ok = self.accept and f"Secret: {AMI_SECRET}" in text
                    reply = (
                        "Success\r\nMessage: Authentication accepted"
                        if ok
                        else "Error\r\nMessage: Authentication failed"
                    )
                else:
                    reply = "Success\r\nPing: Pong"
                writer.write(f"Response: {reply}\r\nActionID: {action_id}\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.mark.parametrize("accept", [True, False], ids=["login", "refused"])
async def test_the_ami_login_keeps_its_secret_out_of_logs(records: KeepAll, accept: bool) -> None:
    fake = FakeAmi(accept)
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monitor = AmiMonitor("127.0.0.1", port, "nul", AMI_SECRET, action_timeout_s=2)
    try:
        await monitor.start()
        if accept:
            await monitor.wait_logged_in(5)
            assert await monitor.alive()
        else:
            for _ in range(50):
                if fake.received:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            assert not monitor.logged_in.is_set()
    finally:
        await monitor.stop()
        server.close()
        await server.wait_closed()
    assert any(f"Secret: {AMI_SECRET}" in text for text in fake.received)  # it was used, on the socket
    assert _leaks("\n".join(records.lines)) == []


def test_secrets_files_written_by_setup_are_private(tmp_path: Path) -> None:
    settings = load_settings(
        REPO / "config" / "nul.yaml",
        environ={"IVR_SECRETS_FILE": str(tmp_path / "var" / "secrets.yaml")},
        overrides={"secrets_file": str(tmp_path / "var" / "secrets.yaml")},
    )
    assert ensure_secrets(settings)
    mode = stat.S_IMODE((tmp_path / "var" / "secrets.yaml").stat().st_mode)
    assert mode == 0o600, oct(mode)
    os.chmod(tmp_path / "var" / "secrets.yaml", 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_settings(
            REPO / "config" / "nul.yaml", environ={"IVR_SECRETS_FILE": str(tmp_path / "var" / "secrets.yaml")}
        )
