"""The loop's cadence: resume points every ``train.resume_every_epochs`` epochs (resuming from
an older one is still exact), ``best.keras`` at most every ``train.checkpoint_every_seconds``
(the best weights wait in memory and in the resume point, and the result is the same),
per-epoch TensorBoard, and the raw resume-point format."""

import json
import os
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf
from cli_helpers import tiny_config

from pipelines.registry import get_task
from pipelines.spine import runner
from pipelines.spine.callbacks import run_checkpoint
from pipelines.spine.callbacks.grad_norm_monitor import record_gradient_norms
from pipelines.spine.callbacks.run_checkpoint import ResumePoint, RunCheckpoint, state_variables
from pipelines.spine.config import load_config

TINY = tiny_config("sentiment")
EPOCHS = 4
# Loss as the monitor: it improves in most early epochs, so best weights do wait.
BASE = [f"train.epochs={EPOCHS}", "train.monitor=val_loss", "train.monitor_mode=min"]
LEAN = [*BASE, "train.resume_every_epochs=2", "train.checkpoint_every_seconds=1e9"]


class _Watch(keras.callbacks.Callback):
    """Notes, at each epoch's start, the resume points and best.keras's modification time;
    with ``stop_at``, interrupts training at the start of that epoch (0-based)."""

    def __init__(self, run_dir, stop_at=None):
        super().__init__()
        self.run_dir, self.stop_at, self.seen = run_dir, stop_at, []

    def on_epoch_begin(self, epoch, logs=None):
        _written()
        best = self.run_dir / "checkpoints" / "best.keras"
        points = sorted(p.name for p in (self.run_dir / "backup").glob("epoch-*"))
        self.seen.append((points, best.stat().st_mtime_ns if best.exists() else None))
        if epoch == self.stop_at:
            raise KeyboardInterrupt


def _written():
    """Waits for the resume point being written in the background (if any)."""
    for thread in threading.enumerate():
        if thread.name.startswith("resume-point-"):
            thread.join()


def _train(run_dir, overrides, monkeypatch, watch=None):
    task = get_task("sentiment")
    cfg = load_config(task.config_class, TINY, overrides)
    monkeypatch.setattr(task, "callbacks", lambda *args: [watch] if watch else [])
    return runner.train(task, cfg, run_dir)


def _weights(run_dir):
    return keras.saving.load_model(run_dir / "checkpoints" / "best.keras").get_weights()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(reference run: a point and best.keras at every epoch/improvement; lean run killed
    (Ctrl-C) at the start of epoch 4 and resumed; what the lean run saw while training)."""
    monkeypatch = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("lean")
    reference, lean = base / "reference", base / "lean"
    try:
        _train(reference, [*BASE, "train.checkpoint_every_seconds=0"], monkeypatch)
        watch = _Watch(lean, stop_at=3)
        with pytest.raises(KeyboardInterrupt):
            _train(lean, LEAN, monkeypatch, watch)
        interrupted = sorted(p.name for p in (lean / "backup").iterdir())
        point = ResumePoint.latest(lean)
        interrupted.append((point.path / run_checkpoint.BEST_FILE).exists())
        _train(lean, LEAN, monkeypatch)
    finally:
        monkeypatch.undo()
    return reference, lean, watch.seen, interrupted, point


def test_resume_points_follow_the_configured_cadence(runs):
    _, lean, seen, interrupted, _ = runs
    assert [points for points, _ in seen] == [[], [], ["epoch-0002"], ["epoch-0002"]]
    assert interrupted[:-1] == ["epoch-0002"]  # epoch 3 finished but wrote no point
    assert sorted(p.name for p in (lean / "backup").iterdir()) == ["epoch-0004"]  # the last


def test_resuming_from_an_older_point_is_exact(runs):
    reference, lean, _, _, point = runs
    assert point.epoch == 2  # epoch 3 was trained again
    for name in ("history.csv", "grad_norms.csv"):
        assert (lean / name).read_bytes() == (reference / name).read_bytes(), name
    for a, b in zip(_weights(lean), _weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    one = json.loads((reference / "train_summary.json").read_text())
    two = json.loads((lean / "train_summary.json").read_text())
    for key in ("best_value", "best_epoch", "epochs_run", "history"):
        assert one[key] == two[key], key


def test_best_checkpoint_waits_and_its_weights_ride_in_the_resume_point(runs):
    reference, _, seen, interrupted, point = runs
    stamps = [stamp for _, stamp in seen]
    assert stamps[0] is None and stamps[1] is not None  # written at the first improvement
    assert stamps[1:] == [stamps[1]] * (len(stamps) - 1)  # then not again within 1e9 s
    val_loss = json.loads((reference / "train_summary.json").read_text())["history"]["val_loss"]
    waiting = val_loss[1] < val_loss[0]  # epoch 2 improved after best.keras was written
    assert (point.best_layout is not None) == waiting
    assert interrupted[-1] == waiting  # best.bin in the point


def test_tensorboard_writes_epochs_only(runs):
    _, lean, _, _, _ = runs
    tags: set[str] = set()
    for path in (lean / "logs").rglob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    assert {"epoch_loss", "epoch_accuracy", "grad_norm/global"} <= tags
    assert not [tag for tag in tags if tag.startswith("batch_")]


# === The resume-point format ===
def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dropout(0.5)(keras.layers.Dense(4, name="hidden")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(hidden))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def test_raw_arrays_round_trip_with_their_layout(tmp_path):
    arrays = [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array(7, np.int64),  # a step counter: 0-d
        np.array([True, False]),
        np.asfortranarray(np.arange(4.0).reshape(2, 2)),  # not C-ordered
        np.zeros((0, 5), np.float32),
    ]
    layout = run_checkpoint._write(tmp_path / "v.bin", arrays)
    layout = json.loads(json.dumps(layout))  # as state.json keeps it
    back = run_checkpoint._read(tmp_path / "v.bin", layout)
    for a, b in zip(arrays, back, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="layout says"):
        run_checkpoint._read(tmp_path / "v.bin", layout[:-2])


def _point_at_epoch_end(tmp_path, model):
    """A checkpoint of ``model`` that has just ended epoch 1 of 2 (its point being written)."""
    checkpoint = RunCheckpoint(tmp_path, tmp_path / "best.keras", "loss", "min")
    checkpoint.set_model(model)
    checkpoint.on_train_begin()
    checkpoint.set_params({"epochs": 2})
    checkpoint.on_epoch_end(0, {"loss": 1.0})
    return checkpoint


def _restore_latest(tmp_path, model):
    restore = RunCheckpoint(
        tmp_path, tmp_path / "b.keras", "loss", "min", ResumePoint.latest(tmp_path)
    )
    restore.set_model(model)
    restore.on_train_begin()


def test_a_point_restores_every_variable_but_the_gradient_record_as_at_its_epoch_end(
    tmp_path, monkeypatch
):
    model = _model()
    record_gradient_norms(model.optimizer, every=1)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.ones((8, 1), "float32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    saved = state_variables(model)
    paths = [v.path for v in saved]
    assert not [p for p in paths if "gradient_squares" in p]
    assert [p for p in paths if p.endswith("/iteration")]
    assert [p for p in paths if "seed_generator" in p]
    go, write = threading.Event(), run_checkpoint._write_point

    def held(*args):  # the thread writes only after the next epoch has changed everything
        assert go.wait(60)
        write(*args)

    monkeypatch.setattr(run_checkpoint, "_write_point", held)
    checkpoint = _point_at_epoch_end(tmp_path, model)
    expected = [np.array(v.numpy()) for v in saved]
    assert ResumePoint.latest(tmp_path) is None  # still being written
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    moved = [np.array(v.numpy()) for v in saved]
    assert any(not np.array_equal(a, b) for a, b in zip(expected, moved, strict=True))
    go.set()
    checkpoint.wait()
    _restore_latest(tmp_path, model)
    for variable, value in zip(saved, expected, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)


def test_a_failed_background_write_is_raised_and_best_keras_still_written(tmp_path):
    model = _model()
    model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    (tmp_path / "backup").write_text("a file where the points' directory goes")
    checkpoint = _point_at_epoch_end(tmp_path, model)  # best.keras at the first improvement
    checkpoint._pending = checkpoint._best_weights()  # as if a later epoch improved
    (tmp_path / "best.keras").unlink()
    with pytest.raises(OSError, match="backup"):
        checkpoint.on_train_end()
    assert (tmp_path / "best.keras").exists()
    checkpoint.wait()  # raised once, not again


def test_a_point_of_another_model_is_refused(tmp_path):
    model = _model()
    model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    _point_at_epoch_end(tmp_path, model).wait()
    inputs = keras.Input((3,))
    other = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    other.compile(optimizer="adam", loss="mse")
    other.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    with pytest.raises(ValueError, match="code changed"):
        _restore_latest(tmp_path, other)


def test_a_point_in_the_earlier_keras_format_still_resumes(tmp_path):
    model = _model()
    model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    point = tmp_path / "backup" / "epoch-0001"
    point.mkdir(parents=True)
    model.save_weights(point / run_checkpoint.WEIGHTS_FILE)
    generators = run_checkpoint.seed_generators(model)
    np.savez(
        point / run_checkpoint.SEEDS_FILE,
        **{f"s{i}": g.state.numpy() for i, g in enumerate(generators)},
    )
    state = {"epoch": 1, "steps": 1, "stopped": False, "best": 1.0, "best_epoch": 1}
    state |= {"wall_seconds": 1.0, "callbacks": {}}
    (point / run_checkpoint.STATE_FILE).write_text(json.dumps(state))
    expected = [np.array(v.numpy()) for v in state_variables(model)]
    model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    _restore_latest(tmp_path, model)
    for variable, value in zip(state_variables(model), expected, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)
    assert os.path.exists(point / run_checkpoint.STATE_FILE)
