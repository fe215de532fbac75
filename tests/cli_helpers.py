"""Helpers the pipeline tests share: the project CLI and ``saved_model_cli run`` (subprocesses),
one whole tiny run in-process (as a module-scoped fixture), and the tagging tasks' check that
evaluation and serving tag alike."""

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    """``python -m pipelines <args>`` from the repository root, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


# Runs argv[3:] with its output in the file argv[1] (killed after argv[2] seconds) and prints
# its exit code and the peak RSS (KiB) of it and its descendants. It is started by this fresh,
# small interpreter rather than by the test process because Linux keeps what a forked
# child's memory was before exec in its ru_maxrss: a child of a pytest process that has
# grown to gigabytes would report those gigabytes, whatever it used itself.
_PEAK_RSS = """
import os, subprocess, sys, threading
with open(sys.argv[1], "w") as log:
    child = subprocess.Popen(sys.argv[3:], stdout=log, stderr=subprocess.STDOUT)
    timer = threading.Timer(float(sys.argv[2]), child.terminate)
    timer.start()
    _, status, usage = os.wait4(child.pid, 0)
    timer.cancel()
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def run_with_peak_rss(
    command: Sequence[str], log: Path, timeout: float = 300
) -> tuple[int, str, int]:
    """Runs ``command`` (from the project root, TensorFlow's C++ logs off) and returns its exit
    code, its output (stdout and stderr, also left in ``log``) and the peak RSS in bytes of it
    and its descendants (e.g. the ``--workers`` launcher's workers)."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, str(log), str(timeout), *command],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        check=True,
    )
    code, kib = done.stdout.split()[-2:]
    return int(code), log.read_text(encoding="utf-8"), int(kib) * 1024


def saved_model_cli_run(saved_model: str | Path, signature: str, input_exprs: str) -> str:
    """The real ``saved_model_cli run`` on one signature; returns its stdout (asserts success)."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "saved_model_cli"),
            "run",
            "--dir",
            str(saved_model),
            "--tag_set",
            "serve",
            "--signature_def",
            signature,
            "--input_exprs",
            input_exprs,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def tiny_config(task_name: str) -> Path:
    """``configs/<task_name>_tiny.yaml``, the config the pipeline tests train with."""
    return ROOT / "configs" / f"{task_name}_tiny.yaml"


def train_evaluate_export(
    task_name: str, config: str | Path, run_dir: Path, splits: Sequence[str] = ("test",)
):
    """One whole run in this process: ``task_name`` trained with ``config`` into ``run_dir``,
    evaluated on each of ``splits`` in turn and exported; returns ``(task, run_dir, metrics,
    exported)``, ``metrics`` the one split's metrics, or with several splits a dict by split."""
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config

    task = get_task(task_name)
    runner.train(task, load_config(task.config_class, config), run_dir)
    by_split = {split: runner.evaluate(task, run_dir, split) for split in splits}
    metrics = by_split[splits[0]] if len(splits) == 1 else by_split
    return task, run_dir, metrics, runner.export(task, run_dir)


def tiny_run_fixture(task_name: str, splits: Sequence[str] = ("test",)):
    """A module-scoped fixture for one whole tiny run of ``task_name`` (its tiny config; see
    :func:`train_evaluate_export`), shared by a test module: ``trained = tiny_run_fixture("pos")``
    (pytest names the fixture after the module attribute)."""

    @pytest.fixture(scope="module")
    def tiny_run(tmp_path_factory):
        run_dir = tmp_path_factory.mktemp("runs") / task_name / "tiny"
        return train_evaluate_export(task_name, tiny_config(task_name), run_dir, splits)

    return tiny_run


def check_evaluation_tags_match_serving(trained, count: int):
    """A tagging task's evaluation path (tf.data features, ordered batches) and serving path
    (strings in the graph, ``tag_tokens``) tag the first ``count`` test sentences identically;
    returns ``(tokens, predicted, loaded)`` (the sentences' tokens, their tags, the SavedModel)
    for further checks."""
    import numpy as np
    import tensorflow as tf

    from pipelines.spine import runner

    task, run_dir, _, exported = trained
    cfg, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    details = task.evaluate(model, cfg, info, "test").details  # what evaluate scored
    sentences = details.sentences.subset(np.arange(count))
    predicted = details.predicted[:count]
    loaded = tf.saved_model.load(str(exported["path"]))
    width = max(len(s) for s in sentences.tokens)
    padded = [s + [""] * (width - len(s)) for s in sentences.tokens]
    served = loaded.signatures["tag_tokens"](tokens=tf.constant(padded))["tags"].numpy()
    assert predicted == [
        [t.decode() for t in row[: len(s)]] for row, s in zip(served, sentences.tokens, strict=True)
    ]
    return sentences.tokens, predicted, loaded
