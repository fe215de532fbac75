"""Speed section ``workers``: training throughput of one JAX process against two
data-parallel processes (``train --workers 2``), same model, same global batch.

Each run is the real CLI (``python -m pipelines train sentiment ...``): the one-process run on
``train.backend: jax`` alone, the two-process run through the launcher. Runs alternate (one,
two, one, two, ...) so a change in the machine's load hits both alike. A run prints a progress
line at the end of every epoch (``train.log_every_steps`` = the epoch's steps) with the
examples/s of that epoch's training steps (validation excluded); the figure is taken from the
epochs after the first, which holds JAX's compilation. The model is the sentiment benchmark
model on IMDB reviews cut to :data:`MAX_LENGTH` tokens without length bucketing (one batch
shape, so one compilation); ``--quick`` uses the bundled sample data and the sample model.

On this 2-core machine each process gets about one core, and one process already keeps about
one core busy (see ``throughput``), so two processes can at best double the cores used, minus
the per-step all-reduce of every gradient over gloo (TCP on localhost).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.speed_timing import progress

ROOT = Path(__file__).resolve().parent.parent
MAX_LENGTH = 200  # tokens per review: nearly every IMDB batch pads to exactly this
FULL = {
    "config": "configs/sentiment.yaml",
    "overrides": [
        "data.source=files",
        "data.max_train_examples=4000",
        f"data.max_length={MAX_LENGTH}",
        "data.bucket_by_length=false",
        "model.bigram_buckets=0",
        "train.epochs=3",
        "train.steps_per_epoch=20",
        "train.log_every_steps=20",
        "train.validation_steps=1",
        "train.early_stopping_patience=0",
    ],
    "repeats": 2,
}
QUICK = {
    "config": "configs/sentiment_sample.yaml",
    "overrides": [
        "data.max_length=16",
        "data.bucket_by_length=false",
        "train.epochs=2",
        "train.steps_per_epoch=30",
        "train.log_every_steps=30",
        "train.validation_steps=1",
        "train.early_stopping_patience=0",
    ],
    "repeats": 1,
}
PROCESS_TIMEOUT = 1200
PROGRESS = re.compile(r"^epoch (\d+) step \d+/\d+ .*\((\d+) examples/s\)$")


say = progress("speed workers")


def after_first_epoch(stderr: str) -> list[float]:
    """The examples/s of every epoch after the first, from a run's progress lines."""
    rates = []
    for line in stderr.splitlines():
        found = PROGRESS.match(line.strip())
        if found and int(found.group(1)) > 1:
            rates.append(float(found.group(2)))
    return rates


def train_once(workers: int, plan: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """One training run with ``workers`` processes (1: plain ``train.backend=jax``)."""
    sets = [arg for key in plan["overrides"] for arg in ("--set", key)]
    if workers == 1:
        sets += ["--set", "train.backend=jax"]
    else:
        sets += ["--workers", str(workers)]
    command = [sys.executable, "-m", "pipelines", "train", "sentiment", "--config", plan["config"]]
    env = {**os.environ, "RUNS_DIR": str(tmp / "runs"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.perf_counter()
    done = subprocess.run(
        [*command, *sets],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    wall = round(time.perf_counter() - started, 1)
    rates = after_first_epoch(done.stderr)
    if done.returncode != 0 or not rates:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"error": (lines[-1] if lines else f"exit {done.returncode}")[:300], "wall_s": wall}
    return {"examples_per_s": statistics.median(rates), "wall_s": wall}


def measure(quick: bool) -> dict[str, Any]:
    """examples/s of one and two processes, interleaved, and their ratio."""
    plan = QUICK if quick else FULL
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="speed-workers-") as tmp:
        for repeat in range(plan["repeats"]):
            for workers in (1, 2):
                say(f"repeat {repeat + 1}/{plan['repeats']}: {workers} process(es)")
                runs[workers].append(train_once(workers, plan, Path(tmp)))
    result: dict[str, Any] = {
        "task": "sentiment",
        "config": plan["config"],
        "overrides": plan["overrides"],
        "backend": "jax",
        "cpu_cores": os.cpu_count(),
        "runs": {str(k): v for k, v in runs.items()},
    }
    rates = {k: [r["examples_per_s"] for r in v if "examples_per_s" in r] for k, v in runs.items()}
    if not rates[1] or not rates[2]:
        errors = [r["error"] for v in runs.values() for r in v if "error" in r]
        result["error"] = errors[0] if errors else "no figures"
        return result
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    result["figures"] = [
        {"name": "1 process, examples/s", "value": round(one, 1), "unit": "ex/s"},
        {"name": "2 processes, examples/s", "value": round(two, 1), "unit": "ex/s"},
        {"name": "2 processes / 1", "value": round(two / one, 3), "unit": "x"},
    ]
    result["note"] = (
        f"{os.cpu_count()} cores: each process gets about one, and one process alone already "
        "keeps about one busy, so two can at best double the cores used, less the per-step "
        "gradient all-reduce over gloo on localhost. On a machine with a core count (or a "
        "GPU) per process and a batch large enough that a step costs far more than that "
        "all-reduce, throughput grows with the process count; this figure says the code path "
        "works and what the all-reduce costs on a small model, not what a cluster gains."
    )
    return result
