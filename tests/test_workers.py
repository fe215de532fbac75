"""Multi-process data-parallel training (``train --workers N``, JAX backend).

Three real runs of the sentiment tiny config (two epochs of 40 steps), no bucketing and 8
tokens per review so that almost every batch has one shape (JAX compiles once per shape): one
process; two processes, killed (``kill -9`` of worker 1) during the second epoch; that run
resumed with ``--run-dir``. The kill must stop the whole run with one error line and leave no
process or scratch folder behind; the resumed two-process run must end with the one-process
run's weights, optimizer state and history (the same global batches, so the same steps, up to
float reduction order).
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from tests.cli_helpers import ROOT, run_cli, tiny_config

SETTINGS = (
    "--set",
    "data.bucket_by_length=false",
    "--set",
    "data.max_length=8",
    "--set",
    "train.steps_per_epoch=40",
    "--set",
    "train.early_stopping_patience=0",
)


def _variables(point: Path) -> list[np.ndarray]:
    """Every model and optimizer variable of a resume point (``backup/epoch-NNNN``)."""
    state = json.loads((point / "state.json").read_text())
    data = (point / "variables.bin").read_bytes()
    arrays, offset = [], 0
    for dtype_name, shape in state["layout"]:
        dtype = np.dtype(dtype_name)
        count = int(np.prod(shape, dtype=np.int64))
        arrays.append(np.frombuffer(data, dtype, count, offset).reshape(shape))
        offset += count * dtype.itemsize
    assert offset == len(data)
    return arrays


def _history(run_dir: Path) -> list[dict[str, float]]:
    lines = (run_dir / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_two_workers_match_one_process_stop_together_and_resume(tmp_path):
    scratch = tmp_path / "tmp"  # where the launcher's scratch folder goes (TMPDIR)
    scratch.mkdir()
    config = ("--config", str(tiny_config("sentiment")))
    one = tmp_path / "one"
    jax = ("--set", "train.backend=jax")
    single = run_cli("train", "sentiment", *config, *SETTINGS, *jax, "--run-dir", str(one))
    assert single.returncode == 0, single.stderr[-3000:]

    two = tmp_path / "two"
    workers = ("--workers", "2", "--run-dir", str(two))
    launcher = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "train", "sentiment", *config, *SETTINGS, *workers],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(scratch)},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(launcher.stderr), daemon=True)
    reader.start()
    first_epoch = two / "backup" / "epoch-0001"
    deadline = time.monotonic() + 240
    while not first_epoch.exists() and launcher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert first_epoch.exists(), "".join(lines)[-3000:]
    started = next(line for line in lines if line.startswith("[launcher]"))
    pids = [int(p) for p in started.split("(pids ")[1].split(")")[0].split(", ")]
    os.kill(pids[1], signal.SIGKILL)  # worker 1 dies during epoch 2 of 2
    assert launcher.wait(timeout=60) == 1
    reader.join(timeout=10)
    assert lines[-1].startswith("error: worker 1 of 2 failed (killed by signal 9)"), lines[-5:]
    assert all(_gone(pid) for pid in pids)  # no orphan: the chief was stopped too
    assert not list(scratch.glob("pipelines-*"))  # the other worker's copies are gone
    assert not (two / "train_summary.json").exists()
    assert len(_history(two)) == 1

    resumed = run_cli("train", "sentiment", *workers, env={"TMPDIR": str(scratch)})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming after epoch 1" in resumed.stderr
    summary = json.loads((two / "train_summary.json").read_text())
    assert (summary["resumed_at_epoch"], summary["epochs_run"]) == (1, 2)
    saved = (two / "config.yaml").read_text()
    assert "backend: jax" in saved and "distribution: data_parallel" in saved
    assert not list(scratch.glob("pipelines-*"))

    # Same global batches, same steps: the one-process state, up to reduction order.
    (final_one,), (final_two,) = (sorted((d / "backup").glob("epoch-*")) for d in (one, two))
    assert final_one.name == final_two.name == "epoch-0002"
    for a, b in zip(_variables(final_one), _variables(final_two), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    expected, got = _history(one), _history(two)
    assert len(got) == 2 and [r.keys() for r in expected] == [r.keys() for r in got]
    for row_one, row_two in zip(expected, got, strict=True):
        for key, value in row_one.items():
            assert abs(row_two[key] - value) <= 1e-5, (key, value, row_two[key])


def test_worker_options_are_checked_before_anything_starts():
    config = tiny_config("sentiment")

    def last_line(*args: str) -> str:
        result = run_cli("train", "sentiment", "--config", str(config), *args)
        assert result.returncode == 1
        return result.stderr.strip().splitlines()[-1]

    assert last_line("--set", "train.batch_size=15", "--workers", "2") == (
        "error: train.batch_size: 15 is the global batch and does not split over 2 processes; "
        "use a multiple of 2"
    )
    assert last_line("--set", "train.distribution=data_parallel") == (
        f"error: {config}: train.distribution: data_parallel runs on Keras' JAX distribution "
        "API and needs train.backend: jax"
    )
    assert last_line("--num-processes", "2", "--process-id", "0") == (
        "error: --coordinator: needed with 2 processes (HOST:PORT of process 0, or set "
        "PIPELINES_COORDINATOR)"
    )
    assert last_line("--workers", "2", "--num-processes", "2", "--coordinator", "h:1") == (
        "error: --workers: starts its own local processes; drop --coordinator/--num-processes/"
        "--process-id (and the PIPELINES_* variables)"
    )


def test_two_workers_split_a_stateful_char_lm_by_lanes(tmp_path):
    """The char LM's carried state (one row per lane) is split by rows like its batches: two
    processes end with the one-process weights and validation loss (no dropout in the tiny
    config, so the steps are the same)."""
    config = ("--config", str(tiny_config("charlm")), "--set", "train.backend=jax")
    runs = {}
    for count in ("1", "2"):
        runs[count] = tmp_path / count
        result = run_cli(
            "train", "charlm", *config, "--workers", count, "--run-dir", str(runs[count])
        )
        assert result.returncode == 0, result.stderr[-3000:]
    (final_one,), (final_two,) = (
        sorted((d / "backup").glob("epoch-*"))[-1:] for d in runs.values()
    )
    for a, b in zip(_variables(final_one), _variables(final_two), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for row_one, row_two in zip(_history(runs["1"]), _history(runs["2"]), strict=True):
        assert abs(row_one["val_loss"] - row_two["val_loss"]) <= 1e-5
