"""Looking inside the backup storage's files: does a marker appear in plaintext (raw, or inside a gzip,
bzip2 or xz stream), and is a file an OpenPGP message (what gpg --encrypt writes)?

Compressed is not encrypted: a marker inside a gzip stream is plaintext to anyone who reads the file.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Hit", "find_marker", "is_openpgp_message", "marker_in_file"]

_CHUNK = 1024 * 1024
# Decompressors fed chunk by chunk (not GzipFile and friends, which drop what they decompressed from a
# stream cut short); each member of a multi-member file gets a new one.
_OPENERS: list[tuple[bytes, str, Callable[[], Any]]] = [
    (b"\x1f\x8b", "gzip", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)),
    (b"BZh", "bzip2", bz2.BZ2Decompressor),
    (b"\xfd7zXZ\x00", "xz", lzma.LZMADecompressor),
]
# OpenPGP packet tags (RFC 9580 §5): a message opens with session-key packets, then encrypted data.
_SESSION_KEY_TAGS = {1, 3}          # public-key / symmetric-key encrypted session key
_ENCRYPTED_DATA_TAGS = {9, 18, 20}  # symmetrically encrypted data (legacy, SEIPD, AEAD)
_ARMOR = b"-----BEGIN PGP MESSAGE-----"


@dataclass(frozen=True)
class Hit:
    path: Path
    how: str                        # "raw" or the stream it was found in ("inside gzip")


def _contains(chunks: Iterator[bytes], marker: bytes) -> bool:
    tail = b""
    for chunk in chunks:
        if marker in tail + chunk:
            return True
        tail = (tail + chunk)[-(len(marker) - 1):] if len(marker) > 1 else b""
    return False


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def _chunks(stream: _Readable) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def marker_in_file(path: Path, marker: bytes) -> str | None:
    """How MARKER appears in PATH: "raw", "inside gzip" (bzip2, xz), or None."""
    with path.open("rb") as raw:
        head = raw.read(8)
        raw.seek(0)
        if _contains(_chunks(raw), marker):
            return "raw"
    for magic, kind, decompressor in _OPENERS:
        if head.startswith(magic):
            with path.open("rb") as raw:
                found = _contains(_decompressed(_chunks(raw), decompressor), marker)
            return f"inside {kind}" if found else None
    return None


def _decompressed(chunks: Iterator[bytes], decompressor: Callable[[], Any]) -> Iterator[bytes]:
    """The plaintext of CHUNKS, member after member, up to the first damage (what came before it counts)."""
    current = decompressor()
    for chunk in chunks:
        while chunk:
            if current.eof:
                if not chunk.strip(b"\0"):
                    break  # padding after the last member (a tar block, a disk block)
                current = decompressor()
            try:
                yield current.decompress(chunk)
            except (OSError, EOFError, lzma.LZMAError, zlib.error):
                return
            chunk = current.unused_data if current.eof else b""


def find_marker(root: Path, marker: bytes) -> list[Hit]:
    """Every file under ROOT that holds MARKER in plaintext."""
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            how = marker_in_file(path, marker)
            if how:
                hits.append(Hit(path, how))
    return hits


def _packet(data: bytes, at: int) -> tuple[int, int] | None:
    """(tag, offset of the next packet) of the OpenPGP packet at AT; None when it is not one. A partial
    body length (new format) or an indeterminate one (old format) ends the walk at the data packet."""
    if at >= len(data) or not data[at] & 0x80:
        return None
    header = data[at]
    if header & 0x40:               # new format
        tag, at = header & 0x3F, at + 1
        if at >= len(data):
            return None
        first = data[at]
        if first < 192:
            return tag, at + 1 + first
        if first < 224:
            return (tag, at + 2 + ((first - 192) << 8) + data[at + 1] + 192) if at + 1 < len(data) else None
        if first == 255:
            return (tag, at + 5 + int.from_bytes(data[at + 1:at + 5], "big")) if at + 4 < len(data) else None
        return tag, len(data)       # partial body length: the rest streams
    tag, length_type, at = (header >> 2) & 0x0F, header & 0x03, at + 1
    if length_type == 3:
        return tag, len(data)
    size = 1 << length_type
    if at + size > len(data):
        return None
    return tag, at + size + int.from_bytes(data[at:at + size], "big")


def is_openpgp_message(path: Path, head_bytes: int = 65536) -> bool:
    """PATH begins with one or more encrypted session keys followed by encrypted data (or is armoured)."""
    with path.open("rb") as stream:
        data = stream.read(head_bytes)
    if data.lstrip().startswith(_ARMOR):
        return True
    at, seen_key = 0, False
    while (packet := _packet(data, at)) is not None:
        tag, at = packet
        if tag in _SESSION_KEY_TAGS:
            seen_key = True
        elif tag in _ENCRYPTED_DATA_TAGS:
            return seen_key
        else:
            return False
        if at >= len(data):
            return False
    return False
