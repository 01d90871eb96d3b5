"""An operator's softphone for the lab: baresip registered to the engine's Asterisk, answering by
itself and speaking a WAV into every call, driven over its control socket (ctrl_tcp) so a script
knows when a call is established and can hang up, as an operator does at the end of a talk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ivr.asterisk.instance import free_port


class SoftphoneError(Exception):
    pass


def sip_port_pair() -> int:
    """baresip listens for UDP and TCP on its SIP port and for TLS on the next one."""
    while True:
        port = free_port("127.0.0.1", socket.SOCK_STREAM)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


class LabSoftphone:
    def __init__(self, login: str, password: str, engine_sip: tuple[str, int], voice: Path) -> None:
        """`voice`: 8 kHz mono WAV sent as the microphone from the moment a call is established
        (start it with a pause, as a person answering speaks a moment after picking up)."""
        self.login, self.password, self.engine_sip, self.voice = login, password, engine_sip, voice
        self.dir = Path(tempfile.mkdtemp(prefix=f"nul-soft-{login}-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.ctrl_port = 0
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None

    def _configure(self) -> None:
        sip_port = sip_port_pair()
        self.ctrl_port = free_port()
        while self.ctrl_port in (sip_port, sip_port + 1):
            self.ctrl_port = free_port()
        (self.dir / "config").write_text(
            "\n".join(
                [
                    f"sip_listen 127.0.0.1:{sip_port}",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    "module aufile.so",
                    "module aubridge.so",
                    "module_app account.so",
                    "module_app menu.so",  # the commands (hangup) ctrl_tcp runs
                    "module_app ctrl_tcp.so",
                    f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
                    f"audio_source aufile,{self.voice}",
                    "audio_player aubridge,sink",
                    "audio_alert aubridge,alert",
                    "rtp_ports 40000-49999",
                    "",
                ]
            )
        )
        host, port = self.engine_sip
        (self.dir / "accounts").write_text(
            f"<sip:op-{self.login}@{host}:{port}>;auth_pass={self.password};answermode=auto;regint=60\n"
        )

    async def start(self, timeout: float = 20.0) -> None:
        """Start baresip and return once it is registered (the engine may still be writing the
        operator's endpoint: registration is retried until `timeout`)."""
        if shutil.which("baresip") is None:
            raise SoftphoneError("baresip is not installed (apt-get install baresip-core)")
        self._configure()
        log = (self.dir / "baresip.log").open("wb")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (starting a process returns at once)
            ["baresip", "-f", str(self.dir)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while "200 OK" not in self.log():
            if self.proc.poll() is not None or loop.time() > deadline:
                raise SoftphoneError(f"softphone {self.login} did not register:\n{self.log()[-1500:]}")
            await asyncio.sleep(0.1)
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)

    def log(self) -> str:
        try:
            return (self.dir / "baresip.log").read_text(errors="replace")
        except OSError:
            return ""

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """baresip's events (netstrings of JSON), e.g. type CALL_ESTABLISHED / CALL_CLOSED."""
        assert self._reader is not None
        while True:
            length = await self._reader.readuntil(b":")
            body = await self._reader.readexactly(int(length[:-1]))
            await self._reader.readexactly(1)  # the netstring's closing comma
            message = json.loads(body)
            if message.get("event"):
                yield message

    async def hangup(self) -> None:
        assert self._writer is not None
        body = json.dumps({"command": "hangup", "params": "", "token": "soak"}).encode()
        self._writer.write(b"%d:%s," % (len(body), body))
        await self._writer.drain()

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            await asyncio.to_thread(self.proc.wait, 10)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
