"""Hostile and ordinary image files for tests (importable from any test: tests/ is on sys.path)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(path: Path, side: int = 40_000, height: int | None = None) -> Path:
    """A tiny PNG whose header claims ``side`` x ``height`` (default square) RGB pixels: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", side, height or side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )
    return path
