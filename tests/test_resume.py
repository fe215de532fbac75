"""Runs you can trust: a run killed with SIGKILL resumes to exactly the uninterrupted result,
records are written whole, exports are replaced atomically, run directories never collide."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pipelines.spine import atomic
from pipelines.spine.run_dir import CONFIG_FILE, RunDirError, latest_run_dir, new_run_dir
from tests.cli_helpers import ROOT, run_cli, tiny_config

# Dropout, Polyak averaging and early stopping all carry state across epochs; 4 epochs of
# ~100 steps keep the run seconds long, so the kill lands inside it.
RESUME_ARGS = (
    *("--config", str(tiny_config("charlm"))),
    *("--set", "train.epochs=4"),
    *("--set", "model.rnn.dropout=0.2"),
    *("--set", "train.ema_momentum=0.9"),
    *("--set", "train.early_stopping_patience=2"),
    *("--set", "data.max_train_chars=6000"),
)


def _rows(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """(uninterrupted run, run killed with SIGKILL in epoch 2 and resumed, resume's result)."""
    base = tmp_path_factory.mktemp("resume")
    whole, killed = base / "whole", base / "killed"
    result = run_cli("train", "charlm", *RESUME_ARGS, "--run-dir", str(whole))
    assert result.returncode == 0, result.stderr[-2000:]
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "train", "charlm", *RESUME_ARGS, "--run-dir", killed],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while _rows(killed / "history.csv") < 1:  # epoch 1 finished
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # into epoch 2
    assert process.poll() is None, "training ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert _rows(killed / "history.csv") < 4
    again = run_cli("train", "charlm", "--run-dir", str(killed))
    assert again.returncode == 0, again.stderr[-2000:]
    return whole, killed, again


def test_resumed_run_has_the_uninterrupted_history_and_gradient_log(resumed):
    whole, killed, again = resumed
    assert "resuming after epoch" in again.stderr
    assert (killed / "history.csv").read_bytes() == (whole / "history.csv").read_bytes()
    assert (killed / "grad_norms.csv").read_bytes() == (whole / "grad_norms.csv").read_bytes()


def test_resumed_run_has_the_uninterrupted_best_checkpoint(resumed):
    import keras

    import models.char_lm  # noqa: F401 (registers the model class)

    whole, killed, _ = resumed
    a = keras.saving.load_model(whole / "checkpoints" / "best.keras")
    b = keras.saving.load_model(killed / "checkpoints" / "best.keras")
    assert len(a.get_weights()) == len(b.get_weights())
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        assert np.array_equal(x, y)


def test_resumed_summary_counts_every_epoch(resumed):
    whole, killed, _ = resumed
    one = json.loads((whole / "train_summary.json").read_text())
    two = json.loads((killed / "train_summary.json").read_text())
    for key in ("best_value", "best_epoch", "epochs_run", "history", "parameters"):
        assert one[key] == two[key], key
    assert two["resumed_at_epoch"] >= 1 and one["resumed_at_epoch"] is None
    assert two["epochs_run"] == len(two["history"]["loss"])


def test_training_a_finished_run_again_changes_nothing(resumed):
    _, killed, _ = resumed
    before = (killed / "history.csv").read_bytes()
    result = run_cli("train", "charlm", "--run-dir", str(killed))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "already finished" in result.stderr
    assert (killed / "history.csv").read_bytes() == before


def test_keep_logs_cuts_rows_past_the_resume_point_and_a_torn_last_line(tmp_path):
    from pipelines.spine.callbacks.run_checkpoint import ResumePoint
    from pipelines.spine.runner import keep_logs

    (tmp_path / "history.csv").write_bytes(b"epoch,loss\r\n0,2.0\r\n1,1.5\r\n2,1.2\r\n3,1.")
    (tmp_path / "grad_norms.csv").write_bytes(b"step,global\r\n5,1\r\n10,2\r\n15,3\r\n")
    point = ResumePoint(tmp_path, 2, 10, False, 1.5, 2, 1.0, {})
    keep_logs(tmp_path, point)
    assert (tmp_path / "history.csv").read_bytes() == b"epoch,loss\r\n0,2.0\r\n1,1.5\r\n"
    assert (tmp_path / "grad_norms.csv").read_bytes() == b"step,global\r\n5,1\r\n10,2\r\n"
    keep_logs(tmp_path, None)  # no resume point: training starts over
    assert not (tmp_path / "history.csv").exists()


def test_a_run_that_fails_before_training_leaves_no_run_directory(tmp_path):
    result = run_cli(
        "train",
        "charlm",
        *("--config", str(tiny_config("charlm"))),
        *("--set", "data.source=files", "--set", f"data.path={tmp_path / 'missing.txt'}"),
        env={"RUNS_DIR": str(tmp_path / "runs")},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert list((tmp_path / "runs").rglob(CONFIG_FILE)) == []


# === Records and exports ===
def test_write_text_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    atomic.write_json(path, {"a": 1})
    with pytest.raises(RuntimeError), atomic.atomic_path(path) as temp:
        temp.write_text('{"a": ')  # a half-written record
        raise RuntimeError("killed")
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_replace_directory_swaps_whole_directories(tmp_path):
    path = tmp_path / "saved_model"
    for version in ("1", "2"):
        new = atomic.temp_sibling(path)
        new.mkdir()
        (new / "version").write_text(version)
        atomic.replace_directory(new, path)
        assert (path / "version").read_text() == version
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved_model"]


def test_recover_directory_restores_the_previous_export_after_a_kill(tmp_path):
    path = tmp_path / "saved_model"
    previous = tmp_path / ("saved_model" + atomic.PREVIOUS_SUFFIX)
    previous.mkdir()
    (previous / "version").write_text("1")
    stray = tmp_path / ".tmp-999999999-ab12-saved_model"  # a dead writer's half export
    stray.mkdir()
    atomic.recover_directory(path)
    assert (path / "version").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved_model"]


# === Run directories ===
def test_new_run_dirs_from_many_threads_at_once_are_distinct(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNS_DIR", str(tmp_path))
    made: list[Path] = []
    errors: list[BaseException] = []

    def make():
        try:
            for _ in range(10):
                made.append(new_run_dir("charlm"))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(made)) == 80 and all(p.is_dir() for p in made)


def test_new_run_dir_in_a_read_only_place_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "ro").mkdir(mode=0o500)
    monkeypatch.setenv("RUNS_DIR", str(tmp_path / "ro"))
    if os.access(tmp_path / "ro", os.W_OK):
        pytest.skip("running as a user who can write anywhere")
    with pytest.raises(RunDirError, match="cannot create a run directory"):
        new_run_dir("charlm")


def test_latest_run_is_the_newest_trained_one_not_the_last_name(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNS_DIR", str(tmp_path))
    for name, stamp in (("zz-named", 100), ("20260101-000000", 300), ("20250101-000000", 200)):
        run = tmp_path / "pos" / name
        (run / "checkpoints").mkdir(parents=True)
        (run / CONFIG_FILE).write_text("task: pos\n")
        (run / "checkpoints" / "best.keras").write_text("")
        os.utime(run / CONFIG_FILE, (stamp, stamp))
    untrained = tmp_path / "pos" / "30000101-000000"  # newest, but no checkpoint
    untrained.mkdir()
    (untrained / CONFIG_FILE).write_text("task: pos\n")
    assert latest_run_dir("pos").name == "20260101-000000"
    with pytest.raises(RunDirError, match="no trained runs"):
        latest_run_dir("ner")
