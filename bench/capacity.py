"""Call capacity: SIPp callers with voice and RFC 4733 keys into the real Asterisk, the engine's
flow (ARI) against the same journey in plain dialplan, step by step, in one run.

Per step (N concurrent calls, N/hold setups per second, 4*N calls): failed calls, INVITE->200 OK
and INVITE->first prompt audio (from a tcpdump capture on loopback), ARI request latency and
event-loop lag (measured inside the engine process, bench/engine_runner.py), CPU seconds per call
of the engine and of Asterisk (/proc/<pid>/stat), engine RSS.

    .venv/bin/python bench/capacity.py                       # 25,50,100,200,300, both flows
    .venv/bin/python bench/capacity.py --levels 25 --flows engine
    .venv/bin/python bench/capacity.py --levels 200 --flows engine --profile   # py-spy, figures not for the table

Needs root (SIPp plays pcap through raw sockets; tcpdump), sipp, tcpdump, espeak-ng, sox and the
cached Asterisk root (`.venv/bin/ivr asterisk build`). Results go to var/bench/capacity-<time>/.
"""

from __future__ import annotations

import argparse
import audioop
import contextlib
import csv
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import wave
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import make_pcap
from bench.common import (
    REPO,
    cpu_seconds,
    fmt,
    loadavg,
    machine,
    machine_cpu,
    percentile,
    rss_mb,
    save_json,
    thread_cpu,
    tree_state,
    wait_quiet,
)
from ivr.asterisk.instance import AsteriskInstance, Ports, free_port
from ivr.asterisk.managed import engine_context
from ivr.asterisk.root import AsteriskRoot, Recipe
from ivr.settings import Settings, load_settings

BENCH = Path(__file__).resolve().parent
OPEN_MOMENT = "2026-02-10T10:00:00+01:00"  # a Tuesday morning in Rome: the line is open
ENGINE_HOST = "127.0.0.1"
LOAD_HOST = "127.0.0.3"  # SIPp callers and operators: the trunk is identified by this address
BASELINE_DID = "700000039"
CALLER_TEXT = "Buongiorno, vorrei sapere come presentare la domanda di disoccupazione."
OPERATOR_TEXT = "Buongiorno, sono l'operatrice del numero per il lavoro. Mi dica pure, come posso aiutarla?"
OPERATOR_KEYS = [(1.2, "1"), (3.4, "1")]  # seconds after the operator picks up
UAC_MEDIA_PORT = 6000
UAS_MEDIA_PORT = 6100
# A ticket with any of these went off the measured journey (a key lost or late, the language switched).
OFF_SCRIPT = ("menu_timeout", "menu_invalid", "menu_default", "consent_invalid", "menu_repeat", "language")
AUDIBLE = 500  # a packet whose loudest sample passes this (of 32767) is prompt audio, not silence


@dataclass
class Lab:
    run_dir: Path
    settings: Settings
    overrides: dict[str, Any]
    asterisk: AsteriskInstance
    sip_port: int
    uac_port: int
    uas_port: int
    engine_proc: subprocess.Popen[bytes] | None = None
    uas_proc: subprocess.Popen[bytes] | None = None
    stats_file: Path = field(default_factory=Path)

    @property
    def engine_pid(self) -> int:
        assert self.engine_proc is not None
        return self.engine_proc.pid

    @property
    def asterisk_pid(self) -> int:
        pid = self.asterisk.pid()
        assert pid is not None
        return pid


def rtp_range(size: int = 20000) -> tuple[int, int]:
    for base in (20000, 30000, 40000):
        ok = True
        for port in range(base, base + size, 500):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("0.0.0.0", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base, base + size - 1
    raise SystemExit("no free UDP range for RTP")


def setup(run_dir: Path, operators: int, speed_wpm: int) -> Lab:
    cache = Path(os.environ.get("NUL_ASTERISK_CACHE", "/var/cache/nul"))
    root = AsteriskRoot(cache, Recipe())
    root.ensure()
    name = f"bench{os.getpid()}"
    password = secrets.token_urlsafe(16)
    sip = free_port(ENGINE_HOST, socket.SOCK_DGRAM)
    uac = free_port(LOAD_HOST, socket.SOCK_DGRAM)
    uas = free_port(LOAD_HOST, socket.SOCK_DGRAM)
    rtp = rtp_range()
    overrides: dict[str, Any] = {
        "clock": {"start": OPEN_MOMENT},
        "paths": {"data_dir": str(run_dir / "data")},
        "service": {"answer_pause_s": 0.0},
        "asterisk": {
            "host": ENGINE_HOST,
            "ari": {"port": free_port(), "password": password},
            "ami": {"port": free_port(), "password": password},
            "sip": {"bind": ENGINE_HOST, "port": sip, "tls_port": free_port(), "rtp_start": rtp[0], "rtp_end": rtp[1]},
            "trunk": {"host": LOAD_HOST, "port": uas, "codecs": ["ulaw", "alaw"]},
            "managed": {"enabled": True, "cache_dir": str(cache), "instance": name},
        },
        "prompts": {"build_dir": str(run_dir / "prompts"), "speed_wpm": speed_wpm},
        "console": {"port": free_port(), "api_token": secrets.token_urlsafe(24)},
        "queue": {"daily_cap": 10_000_000, "wrap_up_s": 1.0, "ring_timeout_s": 20, "max_wait_s": 600},
        "campaigns": [{"id": "bench", "name": "Benchmark campaign", "from": "2026-02-01", "to": "2026-02-28"}],
        "logging": {"level": "INFO"},
    }
    settings = load_settings(
        REPO / "config" / "nul.yaml",
        environ={"IVR_SECRETS_FILE": str(run_dir / "no-secrets.yaml")},
        overrides=overrides,
    )
    instance = AsteriskInstance(root, name, [BENCH / "asterisk", settings.asterisk_config_dir / "engine"])
    context = engine_context(settings)
    context["extra_modules"] = ["app_read.so"]
    context["baseline_did"] = BASELINE_DID
    instance.render(context)
    extensions = instance.host("etc") / "extensions.conf"
    extensions.write_text(extensions.read_text() + "\n#include extensions_bench.conf\n")
    ports = Ports(
        sip=(ENGINE_HOST, sip),
        http=(ENGINE_HOST, settings.asterisk.ari.port),
        ami=(ENGINE_HOST, settings.asterisk.ami.port),
        rtp=rtp,
    )
    instance.start(ports)
    lab = Lab(run_dir, settings, overrides, instance, sip, uac, uas)
    start_engine(lab, operators)
    return lab


def start_engine(lab: Lab, operators: int) -> None:
    lab.stats_file = lab.run_dir / "engine-stats.json"
    ready = lab.run_dir / "engine-ready"
    ready.unlink(missing_ok=True)
    config = {
        "run_dir": str(lab.run_dir),
        "overrides": lab.overrides,
        "operators": operators,
        "stats_file": str(lab.stats_file),
        "ready_file": str(ready),
        "log_file": str(lab.run_dir / "engine.log"),
    }
    (lab.run_dir / "engine.json").write_text(json.dumps(config))
    out = (lab.run_dir / "engine.out").open("wb")
    lab.engine_proc = subprocess.Popen(
        [sys.executable, str(BENCH / "engine_runner.py"), str(lab.run_dir / "engine.json")],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        if lab.engine_proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"engine did not start; see {lab.run_dir / 'engine.out'} and engine.log")
        time.sleep(0.2)
    print(f"engine ready (pid {lab.engine_pid}), {ready.read_text()} operators", flush=True)


def engine_stats(lab: Lab) -> dict[str, Any]:
    lab.stats_file.unlink(missing_ok=True)
    os.kill(lab.engine_pid, signal.SIGUSR1)
    for _ in range(100):
        if lab.stats_file.exists():
            return json.loads(lab.stats_file.read_text())  # type: ignore[no-any-return]
        time.sleep(0.05)
    return {}


def teardown(lab: Lab) -> None:
    for proc in (lab.uas_proc, lab.engine_proc):
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM if proc is lab.engine_proc else signal.SIGUSR1)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    lab.asterisk.stop()
    logs = lab.run_dir / "asterisk-logs"
    logs.mkdir(exist_ok=True)
    for name in ("messages.log", "console.log"):
        source = lab.asterisk.host("log") / name
        if source.exists():
            shutil.copyfile(source, logs / name)
    for kind in ("etc", "run", "spool", "log", "varlib", "cache"):
        shutil.rmtree(lab.asterisk.host(kind), ignore_errors=True)


# --- media and scenarios ------------------------------------------------------------------------


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def lead_in_ms(path: Path) -> float:
    """How long a prompt file is quiet before its first audible sample."""
    with wave.open(str(path), "rb") as w:
        pcm = w.readframes(w.getnframes())
    for i in range(0, len(pcm), 320):
        if audioop.max(pcm[i : i + 320], 2) > AUDIBLE:
            return i / 2 / 8
    return 0.0


@dataclass(frozen=True)
class Script:
    hold_ms: int
    talk_ms: int
    keys: list[tuple[float, str]]
    speak_at: float
    pcap: Path
    scenario: Path


def make_script(lab: Lab, hold_s: float) -> Script:
    """The caller's media timed on the prompts actually built: each key pressed twice, 1.0 s and
    1.6 s into the prompt that asks for it (barge-in), so a late engine still gets one. The
    welcome is followed by the language offer (no wait of its own): the consent notice begins
    after both, and a key pressed during the offer would be dropped (the journey that went off
    script when the offer came in: every consent key fell in it)."""
    prompts = lab.run_dir / "prompts"
    welcome = wav_seconds(prompts / "welcome.wav") + wav_seconds(prompts / "en" / "language_offer.wav")
    refused = wav_seconds(prompts / "consent_refused.wav")
    consent_at = welcome + 1.0
    menu_at = consent_at + refused + 1.0
    keys = [(consent_at, "2"), (consent_at + 0.6, "2"), (menu_at, "1"), (menu_at + 0.6, "1")]
    voice = lab.run_dir / "caller.wav"
    raw = lab.run_dir / "caller.raw.wav"
    subprocess.run(["espeak-ng", "-v", "it", "-s", "160", "-w", str(raw), CALLER_TEXT], check=True)
    subprocess.run(
        ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(voice)], check=True
    )
    pcap = lab.run_dir / "caller.pcap"
    speak_at = menu_at + 1.2
    make_pcap.make(voice, pcap, length_s=hold_s, speak_at=speak_at, keys=keys)
    # The operator answers about 0.4 s after the menu key; the caller talks until `hold_s`.
    talk_ms = max(1000, int((hold_s - (menu_at + 0.4)) * 1000))
    scenario = lab.run_dir / "caller.xml"
    text = (BENCH / "sipp" / "caller.xml").read_text()
    text = text.replace("[hold]", str(int(hold_s * 1000))).replace("[talk]", str(talk_ms))
    scenario.write_text(text.replace("[pcap]", str(pcap)))
    return Script(int(hold_s * 1000), talk_ms, keys, speak_at, pcap, scenario)


def start_operators(lab: Lab, hold_s: float) -> None:
    """SIPp answering every call the line places to an operator's outside number, as a person
    at home does: picks up, hears the topic, presses 1 (the line connects an outside number only
    after the key), then talks. Each key is pressed twice, 1.2 s and 3.4 s after answering: a
    first key the engine clears as it starts the topic (a slow engine) leaves the second; a
    second key after the first was taken reaches the caller, who ignores it."""
    d = lab.run_dir / "uas"
    d.mkdir(exist_ok=True)
    voice, raw = lab.run_dir / "operator.wav", lab.run_dir / "operator.raw.wav"
    subprocess.run(["espeak-ng", "-v", "it", "-s", "170", "-w", str(raw), OPERATOR_TEXT], check=True)
    subprocess.run(
        ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(voice)], check=True
    )
    pcap = d / "operator.pcap"
    make_pcap.make(voice, pcap, length_s=hold_s, speak_at=OPERATOR_KEYS[-1][0] + 0.8, keys=OPERATOR_KEYS)
    text = (BENCH / "sipp" / "operator.xml").read_text()
    (d / "operator.xml").write_text(text.replace("[pcap]", str(pcap)))
    cmd = [
        "sipp", "-sf", "operator.xml", "-i", LOAD_HOST, "-p", str(lab.uas_port),
        "-mi", LOAD_HOST, "-mp", str(UAS_MEDIA_PORT), "-nostdin",
        "-trace_stat", "-stf", "stats.csv", "-fd", "1", "-trace_err", "-max_socket", "4096",
    ]  # fmt: skip
    lab.uas_proc = subprocess.Popen(cmd, cwd=d, stdout=subprocess.DEVNULL, stderr=(d / "stderr.txt").open("wb"))
    time.sleep(1.0)
    if lab.uas_proc.poll() is not None:
        raise SystemExit(f"SIPp operators did not start: {(d / 'stderr.txt').read_text()}")


def sipp_counts(stats_csv: Path) -> dict[str, int]:
    """The last line of a SIPp -trace_stat file: cumulative counters."""
    try:
        rows = list(csv.reader(stats_csv.read_text().splitlines(), delimiter=";"))
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    head, last = rows[0], rows[-1]
    out = {}
    for key in ("TotalCallCreated", "SuccessfulCall(C)", "FailedCall(C)", "CurrentCall", "Retransmissions(C)",
                "FailedCallRejected(C)", "FailedMaxUDPRetrans(C)", "FailedUnexpectedMessage(C)",
                "FailedCallAborted(C)", "FailedCmdNotSent(C)", "FailedRegexpDoesntMatch(C)",
                "FailedRegexpHdrNotFound(C)", "FailedOutboundCongestion(C)", "FailedTimeoutOnRecv(C)",
                "FailedTimeoutOnSend(C)", "OutOfCallMsgs(C)", "DeadCallMsgs(C)", "AutoAnswered(C)"):  # fmt: skip
        if key in head:
            with contextlib.suppress(ValueError):
                out[key] = int(last[head.index(key)])
    return out


def max_current(stats_csv: Path) -> int:
    try:
        rows = list(csv.reader(stats_csv.read_text().splitlines(), delimiter=";"))
    except OSError:
        return 0
    if len(rows) < 2 or "CurrentCall" not in rows[0]:
        return 0
    i = rows[0].index("CurrentCall")
    return max((int(r[i]) for r in rows[1:] if len(r) > i and r[i].isdigit()), default=0)


# --- capture ------------------------------------------------------------------------------------


def start_capture(lab: Lab, step_dir: Path) -> list[subprocess.Popen[bytes]]:
    sip_filter = f"udp and host {LOAD_HOST} and port {lab.uac_port}"
    rtp_filter = f"udp and src host {ENGINE_HOST} and dst host {LOAD_HOST} and dst port {UAC_MEDIA_PORT}"
    procs = []
    for name, flt in (("sip", sip_filter), ("rtp", rtp_filter)):
        procs.append(
            subprocess.Popen(
                ["tcpdump", "-i", "lo", "-n", "-B", "16384", "-s", "0", "-w", str(step_dir / f"{name}.pcap"), flt],
                stdout=subprocess.DEVNULL,
                stderr=(step_dir / f"tcpdump-{name}.txt").open("wb"),
            )
        )
    time.sleep(1.0)
    return procs


def stop_capture(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def read_pcap(path: Path) -> list[tuple[float, int, int, bytes]]:
    """(time, source port, destination port, UDP payload) of each IPv4/UDP packet."""
    data = path.read_bytes()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    link_len = {1: 14, 113: 16, 101: 0, 228: 0}.get(linktype, 14)
    out = []
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[pos : pos + 16])
        pos += 16
        frame = data[pos : pos + incl]
        pos += incl
        ip = frame[link_len:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        sport, dport = struct.unpack("!HH", ip[ihl : ihl + 4])
        out.append((sec + frac / (1e9 if nano else 1e6), sport, dport, ip[ihl + 8 :]))
    return out


_CALL_ID = re.compile(r"^(?:Call-ID|i)\s*:\s*(\S+)", re.I | re.M)
_M_AUDIO = re.compile(r"^m=audio (\d+)", re.M)


def setup_latencies(step_dir: Path) -> dict[str, Any]:
    """INVITE -> 200 OK and INVITE -> first audible RTP from the line, per call."""
    invites: dict[str, float] = {}
    answers: dict[str, tuple[float, int]] = {}
    for at, _sport, _dport, payload in read_pcap(step_dir / "sip.pcap"):
        text = payload.decode("latin-1", "replace")
        m = _CALL_ID.search(text)
        if not m:
            continue
        call = m.group(1)
        if text.startswith("INVITE "):
            invites.setdefault(call, at)
        elif text.startswith("SIP/2.0 200") and re.search(r"^CSeq:\s*1 INVITE", text, re.I | re.M):
            audio = _M_AUDIO.search(text)
            if audio and call not in answers:
                answers[call] = (at, int(audio.group(1)))
    events: list[tuple[float, int, str]] = [(at, port, call) for call, (at, port) in answers.items()]
    events.sort()
    rtp = read_pcap(step_dir / "rtp.pcap")
    first_audio: dict[str, float] = {}
    active: dict[int, str] = {}
    i = 0
    for at, sport, _dport, payload in rtp:
        while i < len(events) and events[i][0] <= at:
            active[events[i][1]] = events[i][2]
            i += 1
        call = active.get(sport)
        if call is None or call in first_audio or len(payload) < 13:
            continue
        cc = payload[0] & 0x0F
        pt = payload[1] & 0x7F
        body = payload[12 + 4 * cc :]
        if pt not in (0, 8) or not body:
            continue
        lin = audioop.ulaw2lin(body, 2) if pt == 0 else audioop.alaw2lin(body, 2)
        if audioop.max(lin, 2) > AUDIBLE:
            first_audio[call] = at
    answer_ms = [(answers[c][0] - t) * 1000 for c, t in invites.items() if c in answers]
    audio_ms = [(first_audio[c] - t) * 1000 for c, t in invites.items() if c in first_audio]
    return {
        "invites": len(invites),
        "answered": len(answers),
        "with_audio": len(audio_ms),
        "answer_p50_ms": percentile(answer_ms, 50),
        "answer_p99_ms": percentile(answer_ms, 99),
        "audio_p50_ms": percentile(audio_ms, 50),
        "audio_p99_ms": percentile(audio_ms, 99),
        "audio_max_ms": max(audio_ms) if audio_ms else None,
        "rtp_packets": len(rtp),
    }


# --- tickets ------------------------------------------------------------------------------------


def ticket_marks(lab: Lab) -> int:
    from sqlalchemy import create_engine, text

    db = create_engine(lab.settings.database_url)
    with db.connect() as conn:
        value = conn.execute(text("select coalesce(max(id), 0) from tickets")).scalar()
    db.dispose()
    return int(value or 0)


def ticket_summary(lab: Lab, after_id: int) -> dict[str, Any]:
    """What the engine recorded for this step's calls: who reached an operator, on script."""
    from sqlalchemy import create_engine, text

    db = create_engine(lab.settings.database_url)
    with db.connect() as conn:
        rows = conn.execute(
            text("select id, open, outcome, end_reason, queue_result, consent, topic from tickets where id > :a"),
            {"a": after_id},
        ).all()
        marks = conn.execute(
            text(
                "select ticket_id, kind from ticket_events where ticket_id > :a and kind in "
                f"({', '.join(repr(k) for k in (*OFF_SCRIPT, 'offer_confirmed'))})"
            ),
            {"a": after_id},
        ).all()
    db.dispose()
    off = {m.ticket_id for m in marks if m.kind in OFF_SCRIPT}
    confirmed = {m.ticket_id for m in marks if m.kind == "offer_confirmed"}
    outcomes = Counter(f"{r.queue_result}/{r.end_reason}" for r in rows)
    # On script: the consent refused with its key, menu choice 1 at the first asking, an operator
    # who confirmed with 1, the conversation. A call the menu put through after keys that never
    # came also reaches an operator: it is not the journey measured, and counts as failed.
    on_script = [
        r
        for r in rows
        if r.consent == "refused" and r.queue_result == "answered" and r.id in confirmed and r.id not in off
    ]
    return {
        "tickets": len(rows),
        "open": sum(1 for r in rows if r.open),
        "operator_answered": sum(1 for r in rows if r.queue_result == "answered"),
        "offer_confirmed": len(confirmed),
        "consent_refused": sum(1 for r in rows if r.consent == "refused"),
        "failed_outcome": sum(1 for r in rows if r.outcome == "failed"),
        "off_script": len(off),
        "on_script": len(on_script),
        "outcomes": dict(outcomes.most_common(8)),
    }


# --- one step -----------------------------------------------------------------------------------


def run_step(lab: Lab, script: Script, flow: str, level: int, hold_s: float, calls_per_level: int,
             profile: bool = False) -> dict[str, Any]:  # fmt: skip
    step_dir = lab.run_dir / f"{flow}-{level}"
    step_dir.mkdir(exist_ok=True)
    did = lab.settings.service.did if flow == "engine" else BASELINE_DID
    rate_per_10s = max(1, round(level * 10 / hold_s))  # N concurrent with calls of `hold_s`
    total = level * calls_per_level
    uas_before = sipp_counts(lab.run_dir / "uas" / "stats.csv")
    first_ticket = ticket_marks(lab)
    capture = start_capture(lab, step_dir)
    engine_stats(lab)  # reset the engine's counters
    e_cpu0, a_cpu0 = cpu_seconds(lab.engine_pid), cpu_seconds(lab.asterisk_pid)
    e_threads0 = thread_cpu(lab.engine_pid)
    assert lab.uas_proc is not None
    load_cpu0 = cpu_seconds(lab.uas_proc.pid) + sum(cpu_seconds(c.pid) for c in capture)
    m_busy0, m_total0 = machine_cpu()
    started = time.monotonic()
    cmd = [
        "sipp", f"{ENGINE_HOST}:{lab.sip_port}", "-sf", str(script.scenario), "-s", did,
        "-i", LOAD_HOST, "-p", str(lab.uac_port), "-mi", LOAD_HOST, "-mp", str(UAC_MEDIA_PORT),
        "-r", str(rate_per_10s), "-rp", "10000", "-l", str(level), "-m", str(total),
        "-nostdin", "-trace_stat", "-stf", "stats.csv", "-fd", "1", "-trace_err", "-trace_screen",
        "-max_socket", "4096", "-timeout", str(int(total / (rate_per_10s / 10) + hold_s + 120)),
    ]  # fmt: skip
    uac = subprocess.Popen(cmd, cwd=step_dir, stdout=subprocess.DEVNULL, stderr=(step_dir / "sipp.err").open("wb"))
    spy = None
    if profile:
        spy_bin = shutil.which("py-spy") or "/tmp/bench-tools/bin/py-spy"
        env = {**os.environ, "PYTHONPATH": "/tmp/bench-tools"}
        spy = subprocess.Popen(
            [
                spy_bin,
                "record",
                "-p",
                str(lab.engine_pid),
                "-d",
                str(int(total / (rate_per_10s / 10))),
                "-r",
                "100",
                "-f",
                "raw",
                "-o",
                str(step_dir / "profile.txt"),
                "--nonblocking",
            ],
            stdout=(step_dir / "py-spy.txt").open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )
    rss_engine = rss_ast = 0.0
    sipp_cpu = 0.0
    give_up = time.monotonic() + total / (rate_per_10s / 10) + hold_s + 120
    while uac.poll() is None:
        if time.monotonic() > give_up:  # calls stuck waiting for an answer: end SIPp, they count as failed
            uac.send_signal(signal.SIGUSR1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                uac.wait(15)
            if uac.poll() is None:
                uac.kill()
            break
        rss_engine = max(rss_engine, rss_mb(lab.engine_pid))
        rss_ast = max(rss_ast, rss_mb(lab.asterisk_pid))
        with contextlib.suppress(OSError):
            sipp_cpu = cpu_seconds(uac.pid)
        time.sleep(1.0)
    duration = time.monotonic() - started
    # Let the last calls' tickets close and the operators' legs end.
    for _ in range(40):
        if engine_stats_peek(lab) == 0:
            break
        time.sleep(0.5)
    time.sleep(3.0)
    e_cpu = cpu_seconds(lab.engine_pid) - e_cpu0
    e_threads = {k: round(v - e_threads0[k], 2) for k, v in thread_cpu(lab.engine_pid).items()}
    a_cpu = cpu_seconds(lab.asterisk_pid) - a_cpu0
    m_busy1, m_total1 = machine_cpu()
    load_cpu = cpu_seconds(lab.uas_proc.pid) + sum(cpu_seconds(c.pid) for c in capture) - load_cpu0
    stats = engine_stats(lab)
    stop_capture(capture)
    if spy is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(60)
    counts = sipp_counts(step_dir / "stats.csv")
    uas_after = sipp_counts(lab.run_dir / "uas" / "stats.csv")
    latency = setup_latencies(step_dir)
    tickets = ticket_summary(lab, first_ticket) if flow == "engine" else {}
    placed = counts.get("TotalCallCreated", 0)
    ok = counts.get("SuccessfulCall(C)", 0)
    failed = max(counts.get("FailedCall(C)", 0), placed - ok)  # calls SIPp had to end count as failed
    operator_calls = uas_after.get("SuccessfulCall(C)", 0) - uas_before.get("SuccessfulCall(C)", 0)
    flow_failed = 0
    if flow == "engine":  # every call placed has a ticket on script (a missing ticket is a failure too)
        flow_failed = max(placed, tickets["tickets"]) - tickets["on_script"]
    # A call failed if SIPp saw it fail, or it never reached an operator (SIPp's operators did not
    # get it, or the engine's ticket says so); the counts overlap, so the largest is the figure.
    failed_calls = max(failed, max(0, placed - operator_calls), flow_failed)
    result = {
        "flow": flow,
        "level": level,
        "rate_cps": rate_per_10s / 10,
        "calls": placed,
        "sipp_ok": ok,
        "sipp_failed": failed,
        "sipp_detail": {k: v for k, v in counts.items() if k.startswith("Failed") and v},
        "retransmissions": counts.get("Retransmissions(C)"),
        "max_concurrent": max_current(step_dir / "stats.csv"),
        "operator_calls": operator_calls,
        "not_to_operator": max(0, placed - operator_calls),
        "flow_failed": flow_failed,
        "failed_calls": failed_calls,
        "latency": latency,
        "engine_cpu_s": round(e_cpu, 2),
        "engine_cpu_by_thread_s": e_threads,  # main: the event loop; threads: database work, Vosk...
        "asterisk_cpu_s": round(a_cpu, 2),
        "engine_cpu_ms_per_call": round(e_cpu / placed * 1000, 2) if placed else None,
        "asterisk_cpu_ms_per_call": round(a_cpu / placed * 1000, 2) if placed else None,
        "sipp_caller_cpu_s": round(sipp_cpu, 2),
        "operators_and_capture_cpu_s": round(load_cpu, 2),  # SIPp operators + the two tcpdumps
        "machine_busy_pct": round(
            100 * (m_busy1 - m_busy0) / max(1e-9, m_total1 - m_total0) * (os.cpu_count() or 1), 1
        ),
        "engine_rss_mb": round(rss_engine, 1),
        "asterisk_rss_mb": round(rss_ast, 1),
        "ari": stats.get("ari", {}),
        "loop_lag": stats.get("loop_lag", {}),
        "tickets": tickets,
        "duration_s": round(duration, 1),
        "load_after": loadavg(),
    }
    save_json(step_dir / "result.json", result)
    return result


def engine_stats_peek(lab: Lab) -> int:
    """Calls the engine still has in progress (does not reset its counters)."""
    from sqlalchemy import create_engine, text

    db = create_engine(lab.settings.database_url)
    with db.connect() as conn:
        value = conn.execute(text("select count(*) from tickets where open")).scalar()
    db.dispose()
    return int(value or 0)


def line(r: dict[str, Any]) -> str:
    lat, ari = r["latency"], r["ari"]
    failed = r["failed_calls"]
    return (
        f"{r['flow']:8} {r['level']:4} {r['rate_cps']:5.1f} {r['calls']:5} {r['max_concurrent']:4} "
        f"{failed:4} {r['not_to_operator']:4} "
        f"{fmt(lat.get('answer_p50_ms'))}/{fmt(lat.get('answer_p99_ms'))} "
        f"{fmt(lat.get('audio_p50_ms'))}/{fmt(lat.get('audio_p99_ms'))} "
        f"{fmt(ari.get('p50_ms'), 2)}/{fmt(ari.get('p99_ms'), 2)} "
        f"{fmt(r['engine_cpu_ms_per_call'])} {fmt(r['asterisk_cpu_ms_per_call'])} "
        f"{r['engine_rss_mb']:.0f} {r['machine_busy_pct']:.0f}%"
    )


HEADER = (
    "flow     conc   cps calls  max fail !op  answer p50/p99 ms  audio p50/p99 ms  ARI p50/p99 ms  "
    "engine-ms/call asterisk-ms/call engine-RSS-MB machine-busy"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="25,50,100,200,300")
    parser.add_argument("--flows", default="baseline,engine", help="order within each level")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds from answer to the caller's BYE")
    parser.add_argument("--calls-per-level", type=int, default=4, help="calls per step = level x this")
    parser.add_argument("--operators", type=int, default=400)
    parser.add_argument("--speed-wpm", type=int, default=400, help="prompt speech rate (short but real prompts)")
    parser.add_argument("--quiet-wait", type=float, default=0, help="wait up to this many s for load < 0.7")
    parser.add_argument("--stop-after-fail", action="store_true", help="skip higher levels of a flow that failed")
    parser.add_argument("--profile", action="store_true", help="run py-spy on the engine during each step")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (SIPp plays pcap with raw sockets; tcpdump)")
    for tool in ("sipp", "tcpdump", "espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    run_dir = (args.out or REPO / "var" / "bench" / time.strftime("capacity-%Y%m%d-%H%M%S")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.quiet_wait:
        wait_quiet(max_wait_s=args.quiet_wait)
    info = {"machine": machine(), "commit": tree_state(), "args": {k: str(v) for k, v in vars(args).items()}}
    print(json.dumps(info["machine"]), flush=True)
    lab = setup(run_dir, args.operators, args.speed_wpm)
    results: list[dict[str, Any]] = []
    try:
        script = make_script(lab, args.hold)
        prompts = lab.run_dir / "prompts"
        info["prompts"] = {
            n: {"seconds": round(wav_seconds(prompts / f"{n}.wav"), 2), "lead_in_ms": lead_in_ms(prompts / f"{n}.wav")}
            for n in ("welcome", "en/language_offer", "consent_notice", "consent_refused", "menu_main")
        }
        info["keys"] = script.keys
        info["talk_ms"] = script.talk_ms
        info["speak_at"] = script.speak_at
        print(json.dumps({"prompts": info["prompts"], "keys": script.keys}), flush=True)
        start_operators(lab, args.hold)
        time.sleep(2.0)
        idle0, t0 = cpu_seconds(lab.engine_pid), time.monotonic()
        a_idle0 = cpu_seconds(lab.asterisk_pid)
        time.sleep(10.0)
        info["idle_cpu_pct"] = {
            "engine": round(100 * (cpu_seconds(lab.engine_pid) - idle0) / (time.monotonic() - t0), 2),
            "asterisk": round(100 * (cpu_seconds(lab.asterisk_pid) - a_idle0) / (time.monotonic() - t0), 2),
        }
        info["load_before"] = loadavg()
        print(HEADER, flush=True)
        failed_flows: set[str] = set()
        for level in [int(x) for x in args.levels.split(",")]:
            for flow in args.flows.split(","):
                if flow in failed_flows:
                    continue
                r = run_step(lab, script, flow, level, args.hold, args.calls_per_level, profile=args.profile)
                results.append(r)
                print(line(r), flush=True)
                if r["failed_calls"] > 0 and args.stop_after_fail:
                    failed_flows.add(flow)
                save_json(run_dir / "results.json", {**info, "steps": results})
                time.sleep(3.0)
    finally:
        teardown(lab)
        save_json(run_dir / "results.json", {**info, "steps": results})
        print(f"results: {run_dir / 'results.json'}", flush=True)
    sys.exit(summary(results))


def summary(results: list[dict[str, Any]]) -> int:
    """The largest level each flow carried with no failed call, and the ratio of the two; none
    when a flow failed at its lowest level: a journey that fails with few calls is off script
    (a prompt changed, a key that no longer fits), not at its capacity, and a ratio would measure
    nothing (run with confirm-with-1 new: "engine / baseline: 0.00", no call reached an
    operator). Returns the exit status: 2 when it refused."""
    best: dict[str, int] = {}
    refused: list[str] = []
    for flow in sorted({r["flow"] for r in results}):
        steps = sorted((r for r in results if r["flow"] == flow), key=lambda r: r["level"])
        ok = 0
        for r in steps:
            if r["failed_calls"] > 0:
                break
            ok = r["max_concurrent"]
        best[flow] = ok
        lowest = steps[0]
        if lowest["failed_calls"] > 0:
            why = {k: lowest[k] for k in ("calls", "failed_calls", "not_to_operator", "flow_failed")}
            if lowest["tickets"]:
                why |= {k: lowest["tickets"][k] for k in ("on_script", "off_script", "offer_confirmed", "outcomes")}
            refused.append(f"{flow} failed at its lowest level ({lowest['level']}): {json.dumps(why)}")
        print(f"{flow}: most concurrent calls with no failure: {ok}", flush=True)
    if refused:
        for why in refused:
            print(f"journey off script, no ratio reported: {why}", flush=True)
        return 2
    if best.get("baseline"):
        print(f"engine / baseline: {best.get('engine', 0) / best['baseline']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    main()
