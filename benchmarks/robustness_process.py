"""Child processes for the robustness suite: each in its own process group, with a wall-clock
limit and a memory watchdog, so a hanging or ballooning case is killed and reported instead of
stalling the suite or the machine."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_RSS_MB = 3000  # a case past this is killed (the machine is shared)
POLL_SECONDS = 0.1


@dataclass
class Finished:
    """How a child process ended: ``returncode`` None when it was killed (``killed`` says
    why), its output and its wall time."""

    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    killed: str = ""


def child_env(runs_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a case: runs under ``runs_dir``, no debug tracebacks, the quiet
    TensorFlow level ``make`` sets."""
    env = {k: v for k, v in os.environ.items() if k != "PIPELINES_DEBUG"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["RUNS_DIR"] = str(runs_dir)
    env["PYTHONPATH"] = str(ROOT)
    return {**env, **(extra or {})}


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to ``proc``'s whole process group (it was started as a session leader)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def start(
    args: list[str],
    env: dict[str, str],
    stdin_path: Path | None = None,
    out_dir: Path | None = None,
) -> subprocess.Popen:
    """``python <args>`` from the project root in a new session, output to files in ``out_dir``
    (pipes could fill and block a child that prints a lot)."""
    out_dir = out_dir or Path(env["RUNS_DIR"])
    out_dir.mkdir(parents=True, exist_ok=True)
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL  # noqa: SIM115
    stamp = f"{os.getpid()}.{time.monotonic_ns()}"
    out = open(out_dir / f".stdout.{stamp}", "w+b")  # noqa: SIM115 (closed by collect)
    err = open(out_dir / f".stderr.{stamp}", "w+b")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdin=stdin,
        stdout=out,
        stderr=err,
        start_new_session=True,
    )
    proc.started = time.perf_counter()  # type: ignore[attr-defined]
    proc.files = (out, err)  # type: ignore[attr-defined]
    return proc


def _read(handle) -> str:
    handle.flush()
    handle.seek(0)
    text = handle.read().decode("utf-8", errors="replace")
    handle.close()
    os.unlink(handle.name)
    return text


def collect(proc: subprocess.Popen, killed: str = "") -> Finished:
    """Waits for ``proc`` (already ended or killed) and returns its outcome."""
    proc.wait()
    seconds = time.perf_counter() - proc.started  # type: ignore[attr-defined]
    code = None if killed else proc.returncode
    out, err = proc.files  # type: ignore[attr-defined]
    return Finished(code, _read(out), _read(err), seconds, killed)


def watch(proc: subprocess.Popen, timeout: float, max_rss_mb: float = MAX_RSS_MB) -> Finished:
    """Waits up to ``timeout`` seconds, killing the group when over time or memory."""
    deadline = proc.started + timeout  # type: ignore[attr-defined]
    while proc.poll() is None:
        if time.perf_counter() > deadline:
            kill_group(proc)
            return collect(proc, f"no exit after {timeout:.0f} s")
        memory = rss_mb(proc.pid)
        if memory > max_rss_mb:
            kill_group(proc)
            return collect(proc, f"resident memory {memory:.0f} MB > {max_rss_mb} MB")
        time.sleep(POLL_SECONDS)
    return collect(proc)


def run(
    args: list[str],
    env: dict[str, str],
    timeout: float,
    stdin_path: Path | None = None,
    max_rss_mb: float = MAX_RSS_MB,
) -> Finished:
    """``python <args>`` to the end, within ``timeout`` seconds and ``max_rss_mb``."""
    return watch(start(args, env, stdin_path), timeout, max_rss_mb)


def pipelines_cli(verb: str, task: str, *args: str) -> list[str]:
    """The arguments of ``python -m pipelines <verb> <task> <args>``."""
    return ["-m", "pipelines", verb, task, *args]


def cli_with_module_probe(probe: Path, verb: str, task: str, *args: str) -> list[str]:
    """``python -m pipelines ...`` exactly, plus a note in ``probe`` at exit of whether
    TensorFlow was imported (the one way to tell that an error came before it)."""
    code = (
        "import atexit, runpy, sys\n"
        f"atexit.register(lambda: open({str(probe)!r}, 'w').write("
        "str('tensorflow' in sys.modules)))\n"
        f"sys.argv = ['pipelines', {verb!r}, {task!r}, *{list(args)!r}]\n"
        "runpy.run_module('pipelines', run_name='__main__', alter_sys=True)\n"
    )
    return ["-c", code]
