"""UTF-8 text files (plain or gzip), with decoding errors reported as ``file:line``."""

from __future__ import annotations

import gzip
from pathlib import Path

_GZIP_MAGIC = b"\x1f\x8b"


class TextEncodingError(ValueError):
    """A text file that is not UTF-8, reported as ``file:line: what is wrong``."""


def read_text(path: str | Path) -> str:
    """A whole UTF-8 text file, gunzipped if it is gzip (by content, not by name); a leading
    byte-order mark is dropped and a decoding error names the file and line."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        data = gzip.decompress(data)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TextEncodingError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})"
        ) from None


def read_lines(path: str | Path) -> list[str]:
    """The lines of :func:`read_text`, split on ``\\n`` only (U+0085 or U+2028 inside a text is
    not a break, as ``str.splitlines`` would make it), each without its ``\\r``."""
    return [line.rstrip("\r") for line in read_text(path).split("\n")]
