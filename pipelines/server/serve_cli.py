"""``python -m pipelines serve [NAME=]RUN_DIR ... [--host H] [--port P]``: serve runs' exports
over HTTP (TF Serving's REST API, the model list, the web pages).

Without a run directory it serves the latest exported run of every task. Names, run
directories and the port are checked before TensorFlow is imported, so a mistake costs a
second and is one ``error:`` line. Ctrl-C or SIGTERM stops it cleanly (requests in flight
finish; exit status 0).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
from pathlib import Path
from typing import NoReturn

from pipelines.server.run_exports import latest_exports
from pipelines.spine import quiet
from pipelines.spine.config import ConfigError
from pipelines.spine.run_dir import RunDirError, runs_root

DEFAULT_PORT = 8501  # TF Serving's REST port


def say(message: str) -> None:
    print(f"[serve] {message}", file=sys.stderr, flush=True)


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (python -m pipelines serve --help)\n")


def _parser() -> argparse.ArgumentParser:
    from pipelines.server.app import MAX_BODY_MB, PAGES

    parser = _OneLineParser(
        prog="python -m pipelines serve",
        description="Serve exported runs over HTTP with TF Serving's REST API "
        "(POST /v1/models/<name>:predict, GET /v1/models/<name>[/metadata]), "
        "plus /v1/models, /healthz and the web pages at /.",
    )
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="[NAME=]RUN_DIR",
        help="runs to serve; a model is named after its task unless NAME= is given "
        "(default: the latest exported run of every task)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (0: any free one, printed)"
    )
    parser.add_argument(
        "--max-body-mb", type=float, default=MAX_BODY_MB, help="largest request body, MB"
    )
    parser.add_argument("--pages-dir", type=Path, default=PAGES, help="the web pages served")
    parser.add_argument(quiet.VERBOSE_FLAG, action="store_true", help="TensorFlow's own logs")
    return parser


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (bound before the models load, so a port in use
    fails at once)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(2048)
    return sock


def main(argv: list[str]) -> int:
    """Runs the server until Ctrl-C or SIGTERM; 0 when it stopped cleanly."""
    args = _parser().parse_args(argv)
    verbose = quiet.verbose_requested(argv)
    quiet.configure(verbose)
    from pipelines.server.model_store import ModelStore

    try:
        runs = args.runs or latest_exports()
        if not runs:
            raise ValueError(
                f"no exported runs in {runs_root()}: export one first (make export-<task>) "
                f"or name runs (make serve RUN=runs/<task>/<stamp>)"
            )
        planned = ModelStore.plan(runs)
        sock = listen(args.host, args.port)
    except (ValueError, ConfigError, RunDirError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        return _serve(args, planned, sock, verbose)
    except KeyboardInterrupt:  # Ctrl-C while the models load
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, ConfigError, RunDirError, OSError) as err:  # a run that cannot load
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        sock.close()


def _serve(args: argparse.Namespace, planned: list, sock: socket.socket, verbose: bool) -> int:
    with contextlib.nullcontext() if verbose else quiet.filtered_stderr():
        import tensorflow  # noqa: F401  (its start-up lines dropped)
    import uvicorn

    from pipelines.server.app import create_app
    from pipelines.server.model_store import ModelStore

    store = ModelStore.load(planned, say)
    app = create_app(store, pages=args.pages_dir, max_body_mb=args.max_body_mb)
    config = uvicorn.Config(
        app,
        log_level="warning",  # our own request log instead of uvicorn's access log
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    say(f"serving {', '.join(store.models)} at http://{shown}:{port}/ (Ctrl-C stops)")
    stopped: list[str] = []
    # uvicorn catches SIGINT/SIGTERM while it runs, shuts down gracefully, then raises the
    # signal again for the handler in place before it: this one, so the exit is clean.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, _: stopped.append(signal.Signals(number).name))
    server.run(sockets=[sock])
    say(f"stopped{f' ({stopped[0]})' if stopped else ''}")
    return 0
