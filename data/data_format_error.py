"""The one error class of bad input data (files, not config keys)."""

from __future__ import annotations


class DataFormatError(ValueError):
    """Input data that cannot be used as it is; the message is one line naming the file (and
    the line or column), ``file:line: what is wrong``.

    A line break inside the message (e.g. from a quoted CSV cell) is written as ``\\n`` so the
    CLI can always print it as one ``error:`` line.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))
