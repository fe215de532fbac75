"""The one error a request can end with on purpose."""

from __future__ import annotations


class RequestError(Exception):
    """A request the server refuses: answered with HTTP ``status`` and ``{"error": message}``
    (one line)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())  # one line, whatever the source said
