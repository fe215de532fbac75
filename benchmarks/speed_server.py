"""Speed section ``server``: the HTTP server (``python -m pipelines serve``) under load on
localhost — :data:`CLIENTS` concurrent clients for :data:`SECONDS` seconds per model, each
sending one-instance ``:predict`` requests back to back on its own keep-alive connection.

The sentiment and NER *sample* configs are trained a couple of steps and exported (as the
``serving`` section does: latency depends on sizes, not weights), then served by the real
server in a subprocess. Figures per model: p50/p99 latency of a request as the client sees it
(JSON, HTTP and the signature), requests/s and errors (any answer but 200, or a failed
connection). The clients run in this process, on the same cores as the server: absolute
figures for this machine, noisier when it is shared.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.speed_serving import trained_export
from benchmarks.speed_timing import percentiles, progress

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("sentiment", "ner")
CLIENTS = 8
SECONDS = 20.0
QUICK_SECONDS = 3.0
WARMUP = 20  # requests per model before the clock starts
SERVING = re.compile(r"\[serve\] serving .* at http://127\.0\.0\.1:(\d+)/")


say = progress("speed server")


def start_server(runs: dict[str, Path], log: Path) -> tuple[subprocess.Popen, int]:
    """``python -m pipelines serve`` on a free port; (process, port) once it listens."""
    with open(log, "w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines", "serve", "--port", "0"]
            + [f"{name}={run_dir}" for name, run_dir in runs.items()],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 300
    while not (match := SERVING.search(log.read_text(encoding="utf-8"))):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the server did not start: {log.read_text()[-500:]}")
        time.sleep(0.2)
    return process, int(match.group(1))


def load(port: int, model: str, body: bytes, seconds: float) -> dict[str, Any]:
    """:data:`CLIENTS` threads sending ``body`` to ``model`` for ``seconds``: latencies (ms),
    requests/s and errors."""
    path = f"/v1/models/{model}:predict"
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors = [0] * CLIENTS
    start = threading.Barrier(CLIENTS + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            try:
                connection.request("POST", path, body, {"Content-Type": "application/json"})
                answer = connection.getresponse()
                answer.read()
                ok = answer.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            latencies[index].append(1000.0 * (time.perf_counter() - began))
            errors[index] += not ok
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = [ms for per_client in latencies for ms in per_client]
    ms = percentiles(every, (50, 99))
    return {
        "clients": CLIENTS,
        "seconds": round(elapsed, 2),
        "requests": len(every),
        "requests_per_s": round(len(every) / elapsed, 1),
        "p50_ms": round(ms["p50"], 2),
        "p99_ms": round(ms["p99"], 2),
        "errors": sum(errors),
    }


def measure(quick: bool) -> dict[str, Any]:
    """Each model in turn under :data:`CLIENTS` concurrent clients."""
    seconds = QUICK_SECONDS if quick else SECONDS
    models: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="speed-server-") as tmp:
        runs, bodies = {}, {}
        for name in MODELS:
            say(f"{name}: training the sample config 2 steps and exporting")
            run_dir, example, sizes = trained_export(name, Path(tmp))
            runs[name] = run_dir
            # one instance of the export example (its strings come back from TF as bytes)
            first = {k: _text(v[0]) for k, v in example.items()}
            instance = next(iter(first.values())) if len(first) == 1 else first
            bodies[name] = json.dumps({"instances": [instance]}).encode("utf-8")
            models[name] = {**sizes, "request": json.loads(bodies[name])}
        log = Path(tmp) / "server.log"
        process, port = start_server(runs, log)
        try:
            for name in MODELS:
                warm = load_warm(port, name, bodies[name])
                say(f"{name}: {CLIENTS} clients for {seconds:g} s")
                models[name].update(load(port, name, bodies[name], seconds), warmup_ok=warm)
                say(
                    f"{name}: p50 {models[name]['p50_ms']} ms, p99 {models[name]['p99_ms']} ms, "
                    f"{models[name]['requests_per_s']} requests/s, {models[name]['errors']} errors"
                )
        finally:
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=60)
    goals = [
        {"name": f"{name}: errors under load", "value": m["errors"], "op": "<=", "target": 0}
        for name, m in models.items()
    ]
    figures = []
    for name, m in models.items():
        figures += [
            {
                "name": f"{name} p50 / p99, {CLIENTS} clients",
                "value": f"{m['p50_ms']:.3g} / {m['p99_ms']:.3g}",
                "unit": "ms",
            },
            {"name": f"{name} requests/s, {CLIENTS} clients", "value": m["requests_per_s"]},
        ]
    return {
        "models": models,
        "server_exit_code": exit_code,
        "goals": goals,
        "figures": figures,
        "notes": (
            f"{CLIENTS} keep-alive clients (threads in the benchmark process, same cores as the "
            f"server) for {seconds:g} s per model, one instance per request, after {WARMUP} "
            f"warm-up requests; sample-config sizes; absolute times (context only)"
        ),
    }


def load_warm(port: int, model: str, body: bytes) -> bool:
    """:data:`WARMUP` requests before timing; whether they all answered 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    ok = True
    for _ in range(WARMUP):
        connection.request("POST", f"/v1/models/{model}:predict", body)
        answer = connection.getresponse()
        answer.read()
        ok &= answer.status == 200
    connection.close()
    return ok


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value
