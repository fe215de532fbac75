"""UTF-8 text files (plain or gzip): every read error is one line naming the file (and line).

A path that is a directory, a file that cannot be read, a truncated or corrupt gzip stream and
a byte that is not UTF-8 each raise a :class:`~data.data_format_error.DataFormatError` (the
last one as its subclass :class:`TextEncodingError`), never an ``OSError`` or ``EOFError``.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from data.data_format_error import DataFormatError

GZIP_MAGIC = b"\x1f\x8b"


class TextEncodingError(DataFormatError):
    """A text file that is not UTF-8, reported as ``file:line: what is wrong``."""


def gzip_error(path: str | Path, err: BaseException) -> DataFormatError:
    """The one-line error of a gzip stream that ends early or does not decompress."""
    detail = " ".join(str(err).split()) or type(err).__name__
    return DataFormatError(f"{path}: truncated or corrupt gzip file ({detail})")


def read_bytes(path: str | Path) -> bytes:
    """The bytes of the file ``path``, gunzipped if they are gzip (by content, not by name)."""
    path = Path(path)
    if path.is_dir():
        raise DataFormatError(f"{path}: is a directory, expected a file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(f"{path}: not found") from None
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read ({err.strerror or err})") from None
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as err:  # BadGzipFile is an OSError
            raise gzip_error(path, err) from None
    return data


def decode_utf8(data: bytes, name: str | Path) -> str:
    """``data`` decoded as UTF-8 without a leading byte-order mark; a bad byte raises
    :class:`TextEncodingError` naming ``name`` and the line."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TextEncodingError(
            f"{name}:{line}: not UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})"
        ) from None


def read_text(path: str | Path) -> str:
    """A whole UTF-8 text file, gunzipped if it is gzip (by content, not by name); a leading
    byte-order mark is dropped and a decoding error names the file and line."""
    return decode_utf8(read_bytes(path), path)


def read_lines(path: str | Path) -> list[str]:
    """The lines of :func:`read_text`, split on ``\\n`` only (U+0085 or U+2028 inside a text is
    not a break, as ``str.splitlines`` would make it), each without its ``\\r``."""
    return [line.rstrip("\r") for line in read_text(path).split("\n")]
