"""``python -m pipelines train <task> --workers N``: N local training processes, one run.

Each worker is the same ``train`` command with ``--coordinator 127.0.0.1:<free port>
--num-processes N --process-id I``: process 0 coordinates and writes the run directory, the
others write their (collective) copies under a scratch folder this launcher removes. Process
0's output is passed through; the others' goes to ``worker-I.log`` in the scratch folder and
is shown only as the last line of a worker that failed.

The launcher watches its workers. When one exits with an error (or is killed) the others are
stopped — SIGINT first, so they can tidy up, then SIGKILL for one stuck in a collective step
waiting for the dead one — and the launcher exits 1 with one line naming the worker and its
last error line. Ctrl-C or SIGTERM stops every worker the same way and exits 130. No worker
outlives the launcher.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from pipelines.spine.cluster import SCRATCH_ENV

# Seconds stopped workers get to exit on SIGINT before they are killed.
GRACE_SECONDS = 5.0
# A line that states an error: the CLI's own ``error: ...`` or a traceback's last line.
ERROR_LINE = re.compile(r"^(error: |[\w.]*(Error|Exception|Interrupt|Exit)\b)")
WORKERS_OPTION = "--workers"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now (the coordinator binds it moments
    later; another program taking it first would fail the run with an address-in-use error)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def without_workers(argv: list[str]) -> list[str]:
    """``argv`` without ``--workers N`` / ``--workers=N``."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == WORKERS_OPTION:
            skip = True
        elif not arg.startswith(WORKERS_OPTION + "="):
            kept.append(arg)
    return kept


class _Worker:
    """One worker process, a thread copying its stderr and a thread waiting for its exit."""

    def __init__(self, index: int, argv: list[str], env: dict[str, str], log: Path | None):
        self.index = index
        self.last_line = ""  # the last line that states an error, else the last line
        self._error_seen = False
        self._log: IO[str] | None = log.open("w", encoding="utf-8") if log else None
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=None if index == 0 else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops the workers
        )
        self._reader = threading.Thread(target=self._copy, daemon=True)
        self._reader.start()

    def _copy(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            text = line.strip()
            if ERROR_LINE.match(text):
                self.last_line, self._error_seen = text, True
            elif text and not self._error_seen:
                self.last_line = text
            if self._log is None:
                sys.stderr.write(line)
                sys.stderr.flush()
            else:
                self._log.write(line)
                self._log.flush()

    def watch(self, exits: queue.Queue) -> None:
        """Puts ``(index, exit code)`` on ``exits`` when the process ends."""

        def wait() -> None:
            exits.put((self.index, self.process.wait()))

        threading.Thread(target=wait, daemon=True).start()

    def finish(self) -> None:
        """Waits for the rest of the output (the process has exited)."""
        self._reader.join(timeout=5)
        if self._log is not None:
            self._log.close()


def launch(argv: list[str], workers: int) -> int:
    """Runs ``python -m pipelines <argv>`` (``--workers`` removed) as ``workers`` processes of
    one data-parallel run; returns the exit code for the launcher (0, 1 or 130)."""
    base = without_workers(argv)
    coordinator = f"127.0.0.1:{free_port()}"
    scratch = Path(tempfile.mkdtemp(prefix="pipelines-workers-"))
    env = {**os.environ, SCRATCH_ENV: str(scratch)}
    running: list[_Worker] = []
    exits: queue.Queue = queue.Queue()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        for index in range(workers):
            command = [
                sys.executable,
                "-m",
                "pipelines",
                *base,
                "--coordinator",
                coordinator,
                "--num-processes",
                str(workers),
                "--process-id",
                str(index),
            ]
            log = scratch / f"worker-{index}.log" if index else None
            running.append(_Worker(index, command, env, log))
            running[-1].watch(exits)
        pids = ", ".join(str(w.process.pid) for w in running)
        print(
            f"[launcher] {workers} workers (pids {pids}), coordinator {coordinator}",
            file=sys.stderr,
            flush=True,
        )
        finished = 0
        while finished < workers:
            try:
                index, code = exits.get(timeout=0.5)
            except queue.Empty:
                continue
            finished += 1
            if code != 0:
                _stop(running)
                worker = running[index]
                worker.finish()
                why = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                print(
                    f"error: worker {index} of {workers} failed ({why}): "
                    f"{worker.last_line or 'no output'}",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
        for worker in running:
            worker.finish()
        return 0
    except KeyboardInterrupt:
        _stop(running)
        print("interrupted: every worker stopped", file=sys.stderr, flush=True)
        return 130
    finally:
        _stop(running)  # whatever happened above, no worker outlives the launcher
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(scratch, ignore_errors=True)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _stop(workers: list[_Worker]) -> None:
    """Stops every worker still running: SIGINT, then SIGKILL after ``GRACE_SECONDS``."""
    alive = [w.process for w in workers if w.process.poll() is None]
    for process in alive:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in alive:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
