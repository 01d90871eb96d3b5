"""Backup files encrypted with a passphrase: AES-256-GCM in 1 MiB chunks, so a large audio
folder is encrypted and decrypted streaming, with constant memory.

Key: scrypt(passphrase, salt) with the salt kept in the manifest. Each chunk's nonce is the file's
random 8-byte prefix plus the chunk number, and the chunk number and a "last chunk" mark are
authenticated: chunks cannot be reordered, dropped or cut off without the tag failing.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

CHUNK = 1024 * 1024
MAGIC = b"NULBAK1\n"


class SealError(Exception):
    """Wrong passphrase, or a damaged or truncated file."""


def derive_key(passphrase: bytes, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase)


def read_passphrase(path: Path) -> bytes:
    data = path.read_bytes().rstrip(b"\r\n")
    if len(data) < 12:
        raise SealError(f"{path}: a passphrase of at least 12 characters is needed")
    return data


def _aad(index: int, last: bool) -> bytes:
    return struct.pack(">Q?", index, last)


def seal(source: Path, target: BinaryIO, key: bytes) -> str:
    """Encrypt `source` into `target`; returns the sha256 of the plain file."""
    aes, prefix, digest = AESGCM(key), os.urandom(8), hashlib.sha256()
    target.write(MAGIC + prefix)
    with source.open("rb") as f:
        chunk, index = f.read(CHUNK), 0
        while True:
            following = f.read(CHUNK) if chunk else b""
            last = not following
            digest.update(chunk)
            sealed = aes.encrypt(prefix + struct.pack(">I", index), chunk, _aad(index, last))
            target.write(struct.pack(">I", len(sealed)) + sealed)
            if last:
                return digest.hexdigest()
            chunk, index = following, index + 1


def unseal(source: BinaryIO, target: BinaryIO, key: bytes) -> str:
    """Decrypt into `target`; returns the sha256 of the plain content. Raises SealError."""
    head = source.read(len(MAGIC) + 8)
    if not head.startswith(MAGIC):
        raise SealError("not an encrypted backup file")
    aes, prefix, digest, index = AESGCM(key), head[len(MAGIC) :], hashlib.sha256(), 0
    size = source.read(4)
    while True:
        if len(size) < 4:
            raise SealError("the file is cut short")
        sealed = source.read(struct.unpack(">I", size)[0])
        size = source.read(4)  # the next chunk's length, or nothing after the last chunk
        last = not size
        nonce = prefix + struct.pack(">I", index)
        try:
            plain = aes.decrypt(nonce, sealed, _aad(index, last))
        except InvalidTag:
            raise SealError("wrong passphrase, or the file was changed or cut short") from None
        digest.update(plain)
        target.write(plain)
        if last:
            return digest.hexdigest()
        index += 1
