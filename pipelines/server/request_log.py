"""One stderr line per HTTP request: method, path, status, milliseconds."""

from __future__ import annotations

import sys
import time
from typing import Any


class RequestLog:
    """ASGI middleware writing ``[serve] POST /v1/models/ner:predict 200 4.1 ms`` per request
    to ``log`` (stderr by default), after the answer is sent; a request that failed without an
    answer is logged as 500. Plain ASGI: no per-request task or body copy."""

    def __init__(self, app: Any, log: Any = None) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_noting_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            ms = 1000.0 * (time.perf_counter() - started)
            print(
                f"[serve] {scope['method']} {scope['path']} {status[0]} {ms:.1f} ms",
                file=self.log or sys.stderr,
                flush=True,
            )
