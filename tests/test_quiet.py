"""Quiet by default: a command's stderr holds our own progress lines and errors, not
TensorFlow's start-up log lines; ``--verbose`` / ``PIPELINES_VERBOSE=1`` lets them through."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.spine import quiet

ROOT = Path(__file__).resolve().parent.parent

# Lines every command printed before (TensorFlow 2.21 on CPU), copied from real runs.
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796044834.337548   18921 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors from "
    "different computation orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796044834.337953   18921 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "I0000 00:00:1796044718.566343   16631 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 AVX_VNNI FMA, in "
    "other operations, rebuild TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796044836.960041   18921 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "E0000 00:00:1796044837.057395   18921 util.cc:131] oneDNN supports DT_INT32 only on "
    "platforms with AVX-512. Falling back to the default Eigen-based implementation if present.",
    "W0000 00:00:1796044837.1   18921 local_rendezvous.cc:405] Local rendezvous is aborting with "
    "status: OUT_OF_RANGE: End of sequence",
]
KEPT = [
    "[charlm] run directory runs/charlm/x",
    "error: configs/charlm.yaml: train.epochs: expected an integer, got 'x'",
    "Traceback (most recent call last):",
    '  File "x.py", line 1, in <module>',
    "ValueError: something real",
    "E0000 00:00:1796044837.057395   18921 some_kernel.cc:12] Out of memory while allocating",
    "epoch 1: validation token accuracy 0.1044",
]


def test_noise_patterns_are_exactly_the_startup_lines():
    assert all(quiet.is_noise(line) for line in NOISE)
    assert not any(quiet.is_noise(line) for line in KEPT)


def test_filtered_stderr_drops_native_noise_and_keeps_the_rest():
    """Native code writes to file descriptor 2 directly; the filter sees those writes."""
    script = textwrap.dedent(
        f"""
        import os, sys
        from pipelines.spine import quiet
        noise, kept = {NOISE!r}, {KEPT!r}
        with quiet.filtered_stderr():
            for a, b in zip(noise, kept + [""] * len(noise)):
                os.write(2, (a + "\\n").encode())
                if b:
                    print(b, file=sys.stderr)
        print("after", file=sys.stderr)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [*KEPT, "after"]


def test_verbose_flag_and_environment(monkeypatch):
    monkeypatch.delenv(quiet.VERBOSE_ENV, raising=False)
    assert not quiet.verbose_requested(["train", "charlm"])
    assert quiet.verbose_requested(["train", "charlm", "--verbose"])
    monkeypatch.setenv(quiet.VERBOSE_ENV, "1")
    assert quiet.verbose_requested(["train", "charlm"])
    monkeypatch.setenv(quiet.VERBOSE_ENV, "0")
    assert not quiet.verbose_requested([])

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    quiet.configure(verbose=True)  # verbose leaves TensorFlow as the user set it
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    quiet.configure(verbose=False)  # quiet overrides even an explicit 2 (errors still print)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def _cli(*args: str, env: dict[str, str]):
    environment = {k: v for k, v in os.environ.items() if k != quiet.VERBOSE_ENV}
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**environment, **env},
    )


@pytest.mark.parametrize("level", ["2", "0"])
def test_train_and_evaluate_print_only_our_lines(tmp_path, level):
    """A tiny run, as in the issue (``TF_CPP_MIN_LOG_LEVEL=2``, and 0): every stderr line is
    ours (``[charlm] ...``); keras's progress lines go to stdout."""
    run_dir = tmp_path / "run"
    env = {"TF_CPP_MIN_LOG_LEVEL": level, "RUNS_DIR": str(tmp_path / "runs")}
    train = _cli(
        "train",
        "charlm",
        "--config",
        str(ROOT / "configs" / "charlm_tiny.yaml"),
        "--data",
        "sample",
        "--set",
        "train.epochs=1",
        "--set",
        "train.steps_per_epoch=1",
        "--set",
        "train.validation_steps=1",
        "--set",
        "sampling.every_epochs=0",  # the sample's own lines are generated text
        "--run-dir",
        str(run_dir),
        env=env,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    lines = train.stderr.splitlines()
    assert lines and all(line.startswith("[charlm] ") for line in lines), train.stderr[-3000:]
    assert any("best val_loss" in line for line in lines)
    if level == "0":
        return  # one verb at one level is enough for the rest
    evaluate = _cli("evaluate", "charlm", "--run-dir", str(run_dir), env=env)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert [line[:15] for line in evaluate.stderr.splitlines()] == ["[charlm] test: "]
