"""The gradient-norm monitor: the norms of each logged step's own gradients (checked against a
hand computation with ``tf.GradientTape``), before clipping, without a probe pass or a trace of
its own; CSV/TensorBoard output, one-time warnings; the record never reaches saved files."""

import csv
import io
import subprocess
import sys
import textwrap
import warnings
import zipfile

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines.spine.callbacks.grad_norm_monitor import (
    GradientNormMonitor,
    record_gradient_norms,
    recorded,
)
from tests.cli_helpers import ROOT


def _tiny_model(learning_rate=0.01, **optimizer_args):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(inputs)
    outputs = keras.layers.Dense(1, name="out")(hidden)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate, **optimizer_args), loss="mse")
    return model


def _data(n=8):
    x = np.random.default_rng(0).normal(size=(n, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(n, 1)).astype("float32")
    return x, y


def _by_hand(model, x, y):
    """Norm of each variable's gradient of the mean squared error, at the current weights."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    return [float(tf.norm(tf.convert_to_tensor(g))) for g in grads]


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_norms_are_the_steps_own_gradients_before_clipping(tmp_path):
    # Clipping to 1e-3 makes the update tiny; the log must show the gradient it was cut from.
    model = _tiny_model(learning_rate=0.1, global_clipnorm=1e-3)
    x, y = _data()
    per_var = _by_hand(model, x, y)  # the weights the one step starts from
    before = [w.copy() for w in model.get_weights()]
    monitor = GradientNormMonitor(every=1, csv_path=tmp_path / "g.csv")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[monitor])

    global_norm = np.sqrt(np.sum(np.square(per_var)))
    rows = _rows(tmp_path / "g.csv")
    assert rows[0] == ["step", "global", "hidden", "out"]
    assert rows[1][0] == "1"
    np.testing.assert_allclose(float(rows[1][1]), global_norm, rtol=1e-5)
    np.testing.assert_allclose(monitor.last_norms["global"], global_norm, rtol=1e-5)
    np.testing.assert_allclose(monitor.last_norms["hidden"], np.hypot(*per_var[:2]), rtol=1e-5)
    np.testing.assert_allclose(monitor.last_norms["out"], np.hypot(*per_var[2:]), rtol=1e-5)
    # ...and the update still used the clipped gradient: every weight moved by at most
    # learning rate x clip norm.
    moved = np.sqrt(
        sum(np.sum(np.square(a - b)) for a, b in zip(model.get_weights(), before, strict=True))
    )
    np.testing.assert_allclose(moved, 0.1 * 1e-3, rtol=1e-3)


def test_a_later_step_logs_its_own_batch_at_its_own_weights(tmp_path):
    model = _tiny_model(learning_rate=0.5)
    x, y = _data(12)
    seen = {}

    class Before(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:
                seen["weights"] = [w.copy() for w in self.model.get_weights()]

    monitor = GradientNormMonitor(every=3, csv_path=tmp_path / "g.csv")
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[Before(), monitor])
    rows = _rows(tmp_path / "g.csv")
    assert [r[0] for r in rows[1:]] == ["3"]
    twin = _tiny_model()
    twin.set_weights(seen["weights"])
    per_var = _by_hand(twin, x[8:], y[8:])  # step 3 trained on the third batch
    np.testing.assert_allclose(float(rows[1][1]), np.sqrt(np.sum(np.square(per_var))), rtol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_sparse_embedding_gradients_count_repeated_rows_once(tmp_path, jit_compile):
    keras.utils.set_random_seed(0)
    ids = np.array([[1, 1, 2, 1], [2, 3, 3, 1]], "int32")  # repeated rows in one batch
    targets = np.array([[0.5], [-1.0]], "float32")
    inputs = keras.Input((4,), dtype="int32")
    embedded = keras.layers.Embedding(5, 3, name="embed")(inputs)
    outputs = keras.layers.Dense(1, name="out")(keras.layers.Flatten()(embedded))
    model = keras.Model(inputs, outputs, name="bag")
    # XLA (what Keras picks for a GPU's train step) must compile the record too
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", jit_compile=jit_compile)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(ids) - targets))
    grads = tape.gradient(loss, model.trainable_variables)
    assert isinstance(grads[0], tf.IndexedSlices)  # the case under test
    dense = [float(tf.norm(tf.convert_to_tensor(g))) for g in grads]
    monitor = GradientNormMonitor(every=1, csv_path=tmp_path / "g.csv")
    model.fit(ids, targets, batch_size=2, epochs=1, verbose=0, callbacks=[monitor])
    np.testing.assert_allclose(monitor.last_norms["embed"], dense[0], rtol=1e-5)
    np.testing.assert_allclose(
        monitor.last_norms["global"], np.sqrt(np.sum(np.square(dense))), rtol=1e-5
    )


class _Counting(keras.layers.Layer):
    """Identity that counts its forward passes (a variable) and its traces (Python)."""

    traces = 0

    def build(self, input_shape):
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, inputs):
        _Counting.traces += 1
        self.calls.assign_add(1.0)
        return inputs


def _counted_fit(tmp_path, monitor: bool) -> tuple[float, int]:
    keras.utils.set_random_seed(0)
    _Counting.traces = 0
    inputs = keras.Input((3,))
    counting = _Counting(name="counting")
    outputs = keras.layers.Dense(1, name="out")(counting(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x, y = _data(12)
    callbacks = [GradientNormMonitor(every=1, csv_path=tmp_path / f"{monitor}.csv")]
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=callbacks if monitor else [])
    return float(counting.calls.numpy()), _Counting.traces


def test_no_probe_pass_and_no_extra_trace(tmp_path):
    calls, traces = _counted_fit(tmp_path, monitor=True)
    assert calls == 6  # 6 steps, one forward pass each
    assert (calls, traces) == _counted_fit(tmp_path, monitor=False)
    assert len(_rows(tmp_path / "True.csv")) == 1 + 6


def test_logs_every_n_steps_and_warns_once(tmp_path, capsys):
    # A negligible step size: one real step would blow the weights up and saturate tanh,
    # which the monitor would (rightly) also report as vanishing.
    model = _tiny_model(learning_rate=1e-12)
    x = np.ones((4, 3), "float32") * 0.1  # small: tanh must not saturate (that would vanish)
    y = np.ones((4, 1), "float32") * 1e4
    monitor = GradientNormMonitor(
        every=2,
        csv_path=tmp_path / "g.csv",
        log_dir=tmp_path / "logs",
        explode_threshold=1.0,
        vanish_threshold=1e-30,
    )
    model.fit(x, y, epochs=3, batch_size=1, verbose=0, callbacks=[monitor])  # 12 steps
    rows = _rows(tmp_path / "g.csv")
    assert rows[0] == ["step", "global", "hidden", "out"]
    assert [int(r[0]) for r in rows[1:]] == [2, 4, 6, 8, 10, 12]
    assert len(monitor.events) == 1 and "exploding" in monitor.events[0]
    assert capsys.readouterr().err.count("WARNING [grad-norm]") == 1
    assert list((tmp_path / "logs" / "grad_norm").glob("events.out.tfevents*"))


def test_vanishing_names_the_layer(tmp_path):
    model = _tiny_model()
    x = np.zeros((2, 3), "float32")  # zero input → zero kernel gradient for "hidden"
    y = np.zeros((2, 1), "float32")
    model.get_layer("out").set_weights([np.zeros((4, 1)), np.zeros(1)])
    monitor = GradientNormMonitor(every=1, csv_path=tmp_path / "g.csv", vanish_threshold=1e-8)
    model.fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=[monitor])
    assert len(monitor.events) == 1 and "vanishing" in monitor.events[0]
    assert "hidden" in monitor.events[0]


def _saved_arrays(model, path) -> list[str]:
    """The names of the arrays ``model.save`` puts into a ``.keras`` file."""
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        data = archive.read("model.weights.h5")
    names: list[str] = []
    with h5py.File(io.BytesIO(data), "r") as weights:
        weights.visititems(
            lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None
        )
    return sorted(names)


def test_the_record_never_reaches_saved_files(tmp_path):
    model = _tiny_model()
    record_gradient_norms(model.optimizer, every=1)
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    record = recorded(model.optimizer)
    assert int(record.step.numpy()) == 2 and float(record.squares.numpy().sum()) > 0
    plain = _tiny_model()
    plain.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert _saved_arrays(model, tmp_path / "m.keras") == _saved_arrays(plain, tmp_path / "p.keras")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Skipping variable loading")
        keras.saving.load_model(tmp_path / "m.keras")
        model.save_weights(tmp_path / "m.weights.h5")
        again = _tiny_model()
        record_gradient_norms(again.optimizer, every=1)
        again.optimizer.build(again.trainable_variables)
        again.load_weights(tmp_path / "m.weights.h5")  # a recording optimizer loads it too
    assert int(again.optimizer.iterations.numpy()) == 2
    for a, b in zip(again.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="every 1 steps, not 2"):
        record_gradient_norms(model.optimizer, every=2)


def _float16_model(learning_rate):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return _tiny_model(learning_rate=learning_rate)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_mixed_float16_records_the_unscaled_gradient(tmp_path):
    model = _float16_model(1e-12)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x, y = _data()
    per_var = _by_hand(model, x, y)
    monitor = GradientNormMonitor(every=1, csv_path=tmp_path / "g.csv")
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[monitor])
    rows = _rows(tmp_path / "g.csv")[1:]
    assert rows, "no step recorded"
    # float16 compute: equal to the float32 gradient within float16 precision
    np.testing.assert_allclose(float(rows[-1][1]), np.sqrt(np.sum(np.square(per_var))), rtol=2e-2)
    plain = _float16_model(1e-12)
    plain.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert _saved_arrays(model, tmp_path / "m.keras") == _saved_arrays(plain, tmp_path / "p.keras")


MIRRORED = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    import keras
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from pipelines.spine.callbacks.grad_norm_monitor import GradientNormMonitor
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(8, 1)).astype("float32")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        inputs = keras.Input((3,))
        outputs = keras.layers.Dense(1, name="out")(keras.layers.Dense(4, name="hidden")(inputs))
        model = keras.Model(inputs, outputs, name="tiny")
        model.compile(optimizer=keras.optimizers.SGD(1e-12), loss="mse")
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    expected = float(tf.linalg.global_norm(grads))
    monitor = GradientNormMonitor(every=1, csv_path=sys.argv[1])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[monitor])
    print(monitor.last_norms["global"], expected)
    """
)


def test_mirrored_strategy_logs_the_norm_of_the_summed_gradient(tmp_path):
    # Each replica holds half the batch's gradient; the log must show the whole batch's.
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(tmp_path / "g.csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    logged, expected = map(float, result.stdout.split()[-2:])
    np.testing.assert_allclose(logged, expected, rtol=1e-5)
