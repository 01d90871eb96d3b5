"""One Asterisk instance inside the shared root: its own config, run, spool, log and db dirs.

Several instances (the engine's, a lab carrier, a test session's pair) share one root and run
side by side; each is started from `/etc/asterisk-<name>/asterisk.conf` with explicit ports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ivr.asterisk.access import DIR_MODE, share_with_asterisk
from ivr.asterisk.root import AsteriskRoot, account, host_ids

log = logging.getLogger(__name__)


class AsteriskStartError(Exception):
    pass


@dataclass(frozen=True)
class Ports:
    """Every port the instance listens on, so they can be checked free before start."""

    sip: tuple[str, int]
    http: tuple[str, int]
    ami: tuple[str, int]
    rtp: tuple[int, int]
    sip_tls: tuple[str, int] | None = None


class AsteriskInstance:
    def __init__(self, root: AsteriskRoot, name: str, templates: list[Path]) -> None:
        """`templates`: directories of `*.conf.j2`; a name in an earlier one hides a later one."""
        self.root = root
        self.name = name
        self.templates = templates
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_handle: Any = None

    # Paths as Asterisk sees them (inside the root) ...
    def inner(self, kind: str) -> str:
        return f"/{_BASES[kind]}/asterisk-{self.name}"

    # ... and as this process sees them.
    def host(self, kind: str) -> Path:
        return self.root.path / _BASES[kind] / f"asterisk-{self.name}"

    @property
    def conf(self) -> str:
        return f"{self.inner('etc')}/asterisk.conf"

    def render(self, context: Mapping[str, Any]) -> None:
        """Write every template as the instance's config and lay out the instance's directories.

        With `run_user` in the context, Asterisk gives up root for that account of the root once
        it has read asterisk.conf: its config (secrets included) stays the engine's, readable by
        the account's group only, and the directories it writes become the account's own.
        Without it (the lab carrier, test equipment) Asterisk stays root and its config 0640
        root:root."""
        for kind in _BASES:
            self.host(kind).mkdir(parents=True, exist_ok=True)
        for sub in ("recording", "voicemail", "outgoing", "tmp", "monitor"):
            (self.host("spool") / sub).mkdir(parents=True, exist_ok=True)
        run_user = context.get("run_user")
        if run_user:
            self._hand_over(str(run_user))
        etc = self.host("etc")
        for conf, text in self.rendered(context).items():
            target = etc / conf
            tmp = target.with_suffix(".tmp")
            tmp.write_text(text)
            share_with_asterisk(tmp)
            tmp.replace(target)
        for written in etc.glob("*.conf"):  # e.g. the operators' endpoints, written while running
            share_with_asterisk(written)
        for name, source in dict(context.get("etc_files") or {}).items():
            self._copy_in(Path(source), etc / name)

    def rendered(self, context: Mapping[str, Any]) -> dict[str, str]:
        """Each config file's text as `render` writes it (by file name), nothing written: what a
        running Asterisk would read if started now (`ivr.asterisk.drift`)."""
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(t) for t in self.templates]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )
        dirs = {kind: self.inner(kind) for kind in _BASES}
        full = {"dirs": dirs, "name": self.name, "modules_dir": self.root.modules_dir(), **context}
        names = sorted({t.name for d in self.templates for t in d.glob("*.conf.j2")})
        return {name.removesuffix(".j2"): env.get_template(name).render(**full) for name in names}

    def _copy_in(self, source: Path, target: Path) -> None:
        """A file Asterisk reads but the engine keeps elsewhere (a TLS key from the data dir):
        the root cannot see outside itself, so a copy goes into the config dir, as private."""
        target.parent.mkdir(parents=True, exist_ok=True)
        share_with_asterisk(target.parent)
        tmp = target.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        tmp.touch(mode=0o600)
        tmp.write_bytes(source.read_bytes())
        share_with_asterisk(tmp)
        tmp.replace(target)

    def _hand_over(self, user: str) -> None:
        """Directories for Asterisk running as `user`: config root's and the group's to read,
        the rest (run, spool, log, astdb, cache) the account's own, files of an earlier run as
        root included."""
        uid, gid = account(self.root.path, user)
        users, groups = host_ids()
        if uid in users or gid in groups:
            log.warning(
                "asterisk-%s runs as uid %d gid %d, which an account of this machine also has: "
                "rebuild the Asterisk root (`ivr asterisk build` after removing %s) to move it",
                self.name,
                uid,
                gid,
                self.root.path,
            )
        etc = self.host("etc")
        os.chown(etc, 0, gid)
        os.chmod(etc, DIR_MODE)
        for kind in ("run", "spool", "log", "cache"):
            _chown_tree(self.host(kind), uid, gid)
            os.chmod(self.host(kind), 0o700)
        varlib = self.host("varlib")
        os.chown(varlib, uid, gid)
        os.chmod(varlib, 0o750)  # the group passes through to the engine's prompts inside
        for entry in varlib.iterdir():
            if entry.is_file():  # astdb; subdirectories are the engine's (prompts)
                os.chown(entry, uid, gid)

    # --- process ------------------------------------------------------------------------------

    def start(self, ports: Ports, *, daemon: bool = False, timeout: float = 30.0) -> None:
        if self.running():
            raise AsteriskStartError(f"asterisk-{self.name} is already running (pid {self.pid()})")
        clashes = list(_ports_in_use(ports))
        busy = [f"{kind} {addr}" for kind, addr in clashes if kind != "rtp"]
        if busy:
            raise AsteriskStartError(f"asterisk-{self.name}: ports already in use: {', '.join(busy)}")
        for _kind, addr in clashes:  # Asterisk takes the next free port of its range for each call
            log.warning("asterisk-%s: RTP port %s of its range is in use by another process", self.name, addr)
        _names_in_root(self.root.path)
        cmd = ["chroot", str(self.root.path), "/usr/sbin/asterisk", "-C", self.conf]
        if not daemon:
            cmd.insert(3, "-f")
        logfile = self.host("log") / "console.log"
        self._log_handle = open(logfile, "ab", opener=_private)  # noqa: SIM115 (kept open while it runs)
        log.info("starting asterisk-%s", self.name)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,  # recordings, voicemail and logs Asterisk writes are its own only
        )
        if daemon:
            self.proc.wait(timeout=timeout)
            self.proc = None
        self.wait_booted(timeout)

    def wait_booted(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AsteriskStartError(
                    f"asterisk-{self.name} exited with {self.proc.returncode}; see "
                    f"{self.host('log') / 'console.log'} and {self.host('log') / 'messages.log'}"
                )
            result = self._rx("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
            if result.returncode == 0 and "fully booted" in result.stdout:
                return
            last = (result.stdout + result.stderr).strip()
            time.sleep(0.1)
        raise AsteriskStartError(f"asterisk-{self.name} did not boot in {timeout:.0f} s: {last}")

    def cli(self, command: str, timeout: float = 10.0) -> str:
        result = self._rx(command, timeout)
        if result.returncode != 0:
            raise AsteriskStartError(f"asterisk -rx {command!r}: {result.stderr.strip() or result.stdout}")
        return result.stdout

    def _rx(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["chroot", str(self.root.path), "/usr/sbin/asterisk", "-C", self.conf, "-rx", command],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess([], 1, "", f"timed out after {timeout:.0f} s")

    def pid(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            return self.proc.pid
        pidfile = self.host("run") / "asterisk.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_exists(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def stop(self, timeout: float = 15.0) -> None:
        pid = self.pid()
        if pid is None:
            self._close_log()
            return
        self._rx("core stop now", timeout=5.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(pid):
            time.sleep(0.05)
        if self._alive(pid):
            log.warning("asterisk-%s did not stop; killing pid %d", self.name, pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if self.proc is not None:
                self.proc.wait(timeout=5)
        self.proc = None
        self._close_log()

    def _alive(self, pid: int) -> bool:
        if self.proc is not None and self.proc.pid == pid:
            return self.proc.poll() is None
        return _pid_exists(pid)

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    """Everything below `top` becomes the account's, and its alone (no group or other bits)."""
    os.chown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            os.lchown(path, uid, gid)
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & 0o077:
                os.chmod(path, stat.S_IMODE(mode) & ~0o077)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


_BASES = {
    "etc": "etc",
    "run": "run",  # /var/run is a symlink to /run inside the root
    "spool": "var/spool",
    "log": "var/log",
    "varlib": "var/lib",
    "cache": "var/cache",
}


def _ports_in_use(ports: Ports) -> Iterable[tuple[str, str]]:
    checks: list[tuple[str, int, str, int]] = [
        ("sip", socket.SOCK_DGRAM, *ports.sip),
        ("http", socket.SOCK_STREAM, *ports.http),
        ("ami", socket.SOCK_STREAM, *ports.ami),
    ]
    if ports.sip_tls is not None:
        checks.append(("sip-tls", socket.SOCK_STREAM, *ports.sip_tls))
    for kind, sock_type, host, port in checks:
        if not _free(host, port, sock_type):
            yield kind, f"{host}:{port}"
    low, high = ports.rtp
    step = max(1, (high - low) // 16)
    for port in range(low, high, step):  # a sample is enough to see a clash with another range
        if not _free("0.0.0.0", port, socket.SOCK_DGRAM):
            yield "rtp", str(port)
            break


def _free(host: str, port: int, sock_type: int) -> bool:
    with socket.socket(socket.AF_INET, sock_type) as sock:
        if sock_type == socket.SOCK_STREAM:  # a listener, not old TIME_WAIT connections, means busy
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", sock_type: int = socket.SOCK_STREAM) -> int:
    """A port free for both TCP and UDP right now (used to lay out test instances)."""
    while True:
        with socket.socket(socket.AF_INET, sock_type) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        other = socket.SOCK_DGRAM if sock_type == socket.SOCK_STREAM else socket.SOCK_STREAM
        if _free(host, port, other):
            return port


def _names_in_root(root: Path) -> None:
    """The machine's own names inside Asterisk's root: at start Asterisk looks up the host name
    (and a root server) for its ACLs, and with no /etc/hosts there every lookup goes to the
    name server; a slow or unreachable one held a restart for three minutes (the soak's run 8,
    against 20 s before). The host's file is copied whenever it differs."""
    source, target = Path("/etc/hosts"), root / "etc" / "hosts"
    try:
        wanted = source.read_bytes()
    except OSError:
        wanted = f"127.0.0.1 localhost\n127.0.1.1 {socket.gethostname()}\n".encode()
    if not target.exists() or target.read_bytes() != wanted:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(wanted)
        target.chmod(0o644)
