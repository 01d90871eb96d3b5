"""The engine as its own process (`ivr run --no-asterisk`), for faults a process can suffer:
SIGKILL, a restart. Talks to the session's Asterisk pair like the in-process engines do."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from ivr.configfile import deep_merge
from tests.harness.pbx import CONFIG, OPEN_MOMENT, REPO, PbxPair


class EngineProcess:
    def __init__(self, pbx: PbxPair, data_dir: Path, extra: dict[str, Any] | None = None) -> None:
        """Writes a config file for an engine against `pbx`, with every path absolute."""
        self.data_dir = data_dir
        config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
        deep_merge(config, {"clock": {"start": OPEN_MOMENT}})
        deep_merge(config, pbx.overrides)
        deep_merge(
            config,
            {
                "secrets_file": str(data_dir / "no-secrets.yaml"),
                "callflow": str(REPO / "config" / "callflows" / "main.yaml"),
                "paths": {"data_dir": str(data_dir)},
                "prompts": {"texts": str(REPO / "config" / "prompts" / "it.yaml"), "custom_dir": str(data_dir / "c")},
            },
        )
        if extra:
            deep_merge(config, extra)
        self.config = config
        self.path = data_dir / "engine.yaml"
        self.path.write_text(yaml.safe_dump(config, allow_unicode=True))
        self.path.chmod(0o600)
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def api(self) -> str:
        console = self.config["console"]
        return f"http://127.0.0.1:{console['port']}/api"

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.api}{path}", headers={"Authorization": f"Bearer {self.config['console']['api_token']}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def health(self) -> Any:
        """The engine's /api/health, or None while nothing answers on its port."""
        try:
            return self._get("/health")
        except OSError:
            return None

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """`ivr run --no-asterisk ARGS` in the background, without waiting for anything."""
        self.runs += 1
        log = (self.data_dir / f"engine-{self.runs}.log").open("wb")
        env = {**os.environ, "IVR_CONFIG": str(self.path)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "run", "--no-asterisk", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO,
        )
        return self.proc

    async def wait_role(self, role: str, timeout: float = 60) -> Any:
        """Wait until the engine's health says `role` (active: with ARI and AMI up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the engine exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            health = await asyncio.to_thread(self.health)
            if health and health.get("role") == role and (role != "active" or (health["ari"] and health["ami"])):
                return health
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the engine is not {role} after {timeout:.0f} s:\n{self.log()[-3000:]}")

    async def start(self, timeout: float = 60) -> None:
        self.runs += 1
        log = (self.data_dir / f"engine-{self.runs}.log").open("wb")
        env = {**os.environ, "IVR_CONFIG": str(self.path)}
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (starting a process returns at once)
            [sys.executable, "-m", "ivr.cli", "run", "--no-asterisk"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the engine exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                health = await asyncio.to_thread(self._get, "/health")
            except OSError:
                health = None
            if health and health.get("ari") and health.get("ami"):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the engine did not come up in {timeout:.0f} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return (self.data_dir / f"engine-{self.runs}.log").read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, as a crash or the OOM killer would."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'nul.db'}"
