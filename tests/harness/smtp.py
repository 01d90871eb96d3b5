"""An SMTP sink whose greeting the test releases: a mail the engine started to send can be held
at the door (connection open, nothing said yet) while the test does something to the engine."""

from __future__ import annotations

import asyncio
import contextlib

from ivr.asterisk.instance import free_port


class HeldSmtp:
    """Plain SMTP on 127.0.0.1 (no TLS: `mail.tls: none`), enough of it for smtplib. Greets a
    client only once `greet` is set; keeps every message's DATA and every command seen."""

    def __init__(self) -> None:
        self.port = free_port()
        self.greet = asyncio.Event()
        self.connected = 0
        self.commands: list[str] = []
        self.mails: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.greet.set()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connected += 1
        try:
            await self.greet.wait()
            writer.write(b"220 sink ESMTP\r\n")
            while line := await reader.readline():
                command = line.decode(errors="replace").strip()
                self.commands.append(command.split(" ")[0].upper())
                verb = self.commands[-1]
                if verb in ("EHLO", "HELO"):
                    writer.write(b"250 sink\r\n")
                elif verb == "DATA":
                    writer.write(b"354 go on\r\n")
                    await writer.drain()
                    self.mails.append(await reader.readuntil(b"\r\n.\r\n"))
                    writer.write(b"250 kept\r\n")
                elif verb == "QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
