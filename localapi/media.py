"""Just enough image handling for photos: read PNG/JPEG/GIF/WebP sizes, make a tiny PNG."""

from __future__ import annotations

import mimetypes
import struct
import zlib

_JPEG_FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                       0xCF}


def image_size(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) of a PNG, JPEG, GIF or WebP image, None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return (0, 0) if len(data) < 30 else _webp_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in _JPEG_FRAME_MARKERS:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    bits = int.from_bytes(data[21:25], "little")  # VP8L
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """Return a valid grey PNG of the given size (what a user 'photographs' by default)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b""))


def guess_mime_type(file_name: str | None, fallback: str = "application/octet-stream") -> str:
    """Return the MIME type Telegram would report for a file name."""
    guessed, _ = mimetypes.guess_type(file_name or "")
    return guessed or fallback


def extension_for(file_name: str | None, mime_type: str | None) -> str:
    """Return a file extension for a stored file's path."""
    if file_name and "." in file_name:
        return "." + file_name.rsplit(".", 1)[1].lower()
    return (mimetypes.guess_extension(mime_type) if mime_type else None) or ""
