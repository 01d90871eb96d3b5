"""Backup files encrypted with a passphrase: AES-256-GCM in 1 MiB chunks, so a large audio
folder is encrypted and decrypted streaming, with constant memory.

Keys: scrypt(passphrase, salt), salt kept in the manifest, then HKDF splits it into an encryption
key and a MAC key for the manifest (`ivr.ops.manifest`): one passphrase, two keys that never
serve each other's purpose. Each chunk's nonce is the file's random 8-byte prefix plus the chunk
number; the chunk number, a "last chunk" mark and the entry's name are authenticated: chunks
cannot be reordered, dropped or cut off, nor a file sealed as one entry opened as another,
without the tag failing.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

CHUNK = 1024 * 1024
MAGIC = b"NULBAK2\n"  # format 1 files began NULBAK1: sealed without their name


class SealError(Exception):
    """Wrong passphrase, or a damaged, truncated or misplaced file."""


class Reader(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True)
class Keys:
    seal: bytes
    mac: bytes


def keys(passphrase: bytes, salt: bytes) -> Keys:
    """The costs are fixed here, not read from the manifest: a forged manifest cannot ask for
    a derivation that takes all the memory."""
    master = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase)

    def expand(purpose: bytes) -> bytes:
        return HKDFExpand(algorithm=hashes.SHA256(), length=32, info=b"nul backup 2: " + purpose).derive(master)

    return Keys(seal=expand(b"aes-256-gcm files"), mac=expand(b"hmac-sha256 manifest"))


def read_passphrase(path: Path) -> bytes:
    data = path.read_bytes().rstrip(b"\r\n")
    if len(data) < 12:
        raise SealError(f"{path}: a passphrase of at least 12 characters is needed")
    return data


def _aad(index: int, last: bool, name: str) -> bytes:
    return struct.pack(">Q?", index, last) + name.encode("utf-8")  # fixed-size head: unambiguous


def seal(source: Path, target: BinaryIO, key: bytes, name: str) -> tuple[str, int]:
    """Encrypt `source` as the backup entry `name` into `target`; returns the sha256 and the
    size of what was read."""
    aes, prefix, digest, size = AESGCM(key), os.urandom(8), hashlib.sha256(), 0
    target.write(MAGIC + prefix)
    with source.open("rb") as f:
        chunk, index = f.read(CHUNK), 0
        while True:
            following = f.read(CHUNK) if chunk else b""
            last = not following
            digest.update(chunk)
            size += len(chunk)
            sealed = aes.encrypt(prefix + struct.pack(">I", index), chunk, _aad(index, last, name))
            target.write(struct.pack(">I", len(sealed)) + sealed)
            if last:
                return digest.hexdigest(), size
            chunk, index = following, index + 1


def unseal(source: Reader, target: Writer | None, key: bytes, name: str) -> tuple[str, int]:
    """Decrypt the entry `name` into `target` (None: only check it); returns the sha256 and the
    size of the plain content. Raises SealError."""
    head = source.read(len(MAGIC) + 8)
    if not head.startswith(MAGIC):
        raise SealError("not a file sealed by this backup format")
    aes, prefix, digest, index, size = AESGCM(key), head[len(MAGIC) :], hashlib.sha256(), 0, 0
    length = source.read(4)
    while True:
        if len(length) < 4:
            raise SealError("the file is cut short")
        want = struct.unpack(">I", length)[0]
        if want > CHUNK + 16:  # a chunk and its tag: a forged length must not take the memory
            raise SealError("the file is damaged (a chunk longer than any this format writes)")
        sealed = source.read(want)
        length = source.read(4)  # the next chunk's length, or nothing after the last chunk
        last = not length
        nonce = prefix + struct.pack(">I", index)
        try:
            plain = aes.decrypt(nonce, sealed, _aad(index, last, name))
        except InvalidTag:
            raise SealError(
                "wrong passphrase, or the file was changed, cut short or sealed for another entry"
            ) from None
        digest.update(plain)
        size += len(plain)
        if target is not None:
            target.write(plain)
        if last:
            return digest.hexdigest(), size
        index += 1
