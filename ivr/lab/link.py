"""A TCP link that can be cut like a network fault would: between the engine and Asterisk's ARI,
or the engine and PostgreSQL, in the tests and in the soak."""

from __future__ import annotations

import asyncio
import contextlib

from ivr.asterisk.instance import free_port


class FaultyLink:
    """Forwards 127.0.0.1:<port> to a target; `cut()` resets every open connection and refuses
    new ones until `restore()`."""

    def __init__(self, target_host: str, target_port: int, *, tap: bool = False) -> None:
        """`tap`: keep every chunk clients send in `sent` (a test's witness; a soak of hours
        leaves it off, or the list would hold the whole run)."""
        self.target = (target_host, target_port)
        self.tap = tap
        self.port = free_port()
        self.up = True
        self.accepted = 0
        self.sent: list[bytes] = []  # every chunk the clients sent, in order (what a tap shows)
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            # On Python 3.11 wait_closed waits for every accepted connection: one a client opened
            # while the link was being cut is aborted by the cut above, so this cannot hang.
            await self._server.wait_closed()

    def cut(self) -> None:
        self.up = False
        for writer in list(self._conns):
            transport = writer.transport
            if transport is not None:
                transport.abort()
        self._conns.clear()

    def restore(self) -> None:
        self.up = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        self._conns.add(writer)  # at once: a cut while the upstream connection opens resets it too
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._conns.discard(writer)
            writer.transport.abort()
            return
        if not self.up or writer.transport.is_closing():  # cut meanwhile
            self._conns.discard(writer)
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self.accepted += 1
        self._conns.update({writer, up_writer})
        pipes = [
            asyncio.ensure_future(self._pipe(reader, up_writer, self.sent if self.tap else None)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)
        for w in (writer, up_writer):
            self._conns.discard(w)
            with contextlib.suppress(Exception):
                w.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes] | None = None
    ) -> None:
        try:
            while data := await reader.read(65536):
                if seen is not None:
                    seen.append(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if writer.transport is not None:
                writer.transport.abort()
