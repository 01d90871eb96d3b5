"""Build the caller's media for SIPp: a pcap of G.711 u-law RTP made from a WAV, with RFC 4733
key presses at set times.

The caller is quiet (faint line noise) while the line speaks, presses keys at the given moments
(each key an RFC 4733 event: 120 ms, marker on the first packet, three end packets), and says the
WAV once it is connected to an operator. SIPp's `play_pcap_audio` replays the packets with their
original spacing, so the times below are seconds after the call was answered.

    python bench/make_pcap.py caller.wav out.pcap --length 10 --speak-at 6.5 --key 3.8:2 --key 5.8:1
"""

from __future__ import annotations

import argparse
import audioop
import random
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

RATE = 8000
PTIME = 0.02
SAMPLES = int(RATE * PTIME)  # 160 samples, 160 bytes of u-law per packet
PT_PCMU = 0
PT_EVENT = 101
EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
KEY_MS = 120


@dataclass(frozen=True)
class Packet:
    at: float
    payload: bytes


def read_wav(path: Path) -> bytes:
    """16-bit mono PCM at 8 kHz (what `sox ... -r 8000 -c 1 -b 16` writes)."""
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != RATE:
            raise SystemExit(f"{path}: need 8 kHz mono 16-bit PCM (convert with sox -r 8000 -c 1 -b 16)")
        return w.readframes(w.getnframes())


def rtp(seq: int, ts: int, ssrc: int, pt: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def build(voice_pcm: bytes, length_s: float, speak_at: float, keys: list[tuple[float, str]]) -> list[Packet]:
    rnd = random.Random(7)
    total = int(length_s / PTIME)
    start_sample = int(speak_at * RATE)
    key_slots: dict[int, str] = {round(at / PTIME): key for at, key in keys}
    ssrc = 0x4E554C00
    seq = 1
    packets: list[Packet] = []
    n = 0
    while n < total:
        at = n * PTIME
        ts = n * SAMPLES
        if n in key_slots:  # a key: RFC 4733 event packets instead of audio for its duration
            event = EVENTS[key_slots[n]]
            steps = KEY_MS // 20
            for i in range(1, steps + 1):
                payload = struct.pack("!BBH", event, 10, i * SAMPLES)
                packets.append(Packet(at + (i - 1) * PTIME, rtp(seq, ts, ssrc, PT_EVENT, payload, marker=i == 1)))
                seq += 1
            for j in range(3):  # end of event, sent three times (RFC 4733 2.5.1.4)
                payload = struct.pack("!BBH", event, 0x80 | 10, steps * SAMPLES)
                packets.append(Packet(at + (steps - 1 + j) * PTIME + 0.001, rtp(seq, ts, ssrc, PT_EVENT, payload)))
                seq += 1
            n += steps + 2
            continue
        offset = (n * SAMPLES - start_sample) * 2
        if 0 <= offset < len(voice_pcm):
            chunk = voice_pcm[offset : offset + SAMPLES * 2].ljust(SAMPLES * 2, b"\0")
        else:  # a quiet line: what a phone sends when nobody speaks
            chunk = struct.pack(f"<{SAMPLES}h", *(rnd.randint(-24, 24) for _ in range(SAMPLES)))
        packets.append(Packet(at, rtp(seq, ts, ssrc, PT_PCMU, audioop.lin2ulaw(chunk, 2), marker=n == 0)))
        seq += 1
        n += 1
    return packets


def write_pcap(path: Path, packets: list[Packet]) -> None:
    """Ethernet/IPv4/UDP frames (SIPp rewrites addresses and ports when it plays them)."""
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ident, p in enumerate(packets):
            udp_len = 8 + len(p.payload)
            udp = struct.pack("!HHHH", 6000, 6000, udp_len, 0) + p.payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident & 0xFFFF, 0, 64, 17, 0, src, dst)
            ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
            frame = b"\x00\x00\x00\x00\x00\x02" + b"\x00\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp
            sec = int(p.at)
            usec = round((p.at - sec) * 1e6)
            out.write(struct.pack("<IIII", 1_000_000 + sec, usec, len(frame), len(frame)))
            out.write(frame)


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def make(wav: Path, out: Path, *, length_s: float, speak_at: float, keys: list[tuple[float, str]]) -> int:
    packets = build(read_wav(wav), length_s, speak_at, keys)
    write_pcap(out, packets)
    return len(packets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wav", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--length", type=float, default=10.0, help="seconds of media")
    parser.add_argument("--speak-at", type=float, default=6.5, help="when the caller starts speaking")
    parser.add_argument("--key", action="append", default=[], help="SECONDS:KEY, e.g. 3.8:2 (repeatable)")
    args = parser.parse_args()
    keys = [(float(k.split(":")[0]), k.split(":")[1]) for k in args.key]
    count = make(args.wav, args.out, length_s=args.length, speak_at=args.speak_at, keys=keys)
    print(f"{args.out}: {count} packets")


if __name__ == "__main__":
    main()
