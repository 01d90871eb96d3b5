"""A real SIP softphone for an operator: baresip, registered to the engine's Asterisk.

It answers by itself (or never, to test ring timeouts), speaks a WAV file into every call and
keeps what it heard (baresip's sndfile module writes each call's decoded audio to a WAV).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path

from ivr.lab.softphone import sip_port_pair


class Softphone:
    def __init__(
        self,
        login: str,
        password: str,
        engine_sip: tuple[str, int],
        voice: Path,
        *,
        answer: bool = True,
        tls_ca: Path | None = None,
    ) -> None:
        """`tls_ca`: register over TLS (to `engine_sip`, the TLS port) trusting that certificate,
        with mandatory SRTP media, as an operator at home does; None: plain UDP and RTP."""
        self.login = login
        self.password = password
        self.engine_sip = engine_sip
        self.voice = voice
        self.answer = answer
        self.tls_ca = tls_ca
        self.dir = Path(tempfile.mkdtemp(prefix=f"nul-phone-{login}-"))
        self.dumps = self.dir / "dumps"
        self.proc: subprocess.Popen[bytes] | None = None

    def _configure(self) -> None:
        self.dumps.mkdir(parents=True, exist_ok=True)
        port = sip_port_pair()
        (self.dir / "config").write_text(
            "\n".join(
                [
                    f"sip_listen 127.0.0.1:{port}",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    *(["module srtp.so", f"sip_cafile {self.tls_ca}"] if self.tls_ca else []),
                    "module aufile.so",
                    "module aubridge.so",
                    "module sndfile.so",
                    "module_app account.so",
                    "module_app menu.so",
                    f"audio_source aufile,{self.voice}",
                    "audio_player aubridge,sink",
                    "audio_alert aubridge,alert",
                    f"snd_path {self.dumps}",
                    "rtp_ports 40000-49999",
                    "",
                ]
            )
        )
        host, sip_port = self.engine_sip
        mode = "auto" if self.answer else "manual"
        secure = ";transport=tls" if self.tls_ca else ""
        media = ";mediaenc=srtp-mand" if self.tls_ca else ""
        (self.dir / "accounts").write_text(
            f"<sip:op-{self.login}@{host}:{sip_port}{secure}>;auth_pass={self.password};answermode={mode};"
            f"regint=60{media}\n"
        )

    async def start(self) -> None:
        if shutil.which("baresip") is None:
            raise RuntimeError("baresip is not installed (apt-get install baresip-core)")
        self._configure()
        log = (self.dir / "baresip.log").open("wb")
        self.proc = await asyncio.to_thread(
            subprocess.Popen,
            ["baresip", "-f", str(self.dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(100):
            if "200 OK" in self.log():
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"softphone {self.login} did not register:\n{self.log()[-1500:]}")

    def log(self) -> str:
        try:
            return (self.dir / "baresip.log").read_text(errors="replace")
        except OSError:
            return ""

    async def stop(self) -> None:
        """Quit as a user would: baresip unregisters on the way out."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            await asyncio.to_thread(self.proc.wait, 10)
        self.proc = None

    def calls_answered(self) -> int:
        return self.log().count("Call established")

    def heard(self) -> list[Path]:
        """What this operator heard, one WAV per call (oldest first)."""
        return sorted(self.dumps.glob("dump-*-dec.wav"))

    async def last_heard(self, timeout: float = 15.0) -> Path:
        """The latest call's recording, once baresip has finished writing it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = -1
        while loop.time() < deadline:
            files = self.heard()
            size = files[-1].stat().st_size if files else -1
            if size > 44 and size == last and "terminated" in self.log():
                return files[-1]
            last = size
            await asyncio.sleep(0.3)
        raise AssertionError(f"{self.login}: no finished call recording in {self.dumps}")

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
