"""The gradient-norm monitor: exact norms, CSV/TensorBoard output, one-time warnings."""

import csv

import keras
import numpy as np
import tensorflow as tf

from pipelines.spine.callbacks.grad_norm_monitor import GradientNormMonitor


def _tiny_model(learning_rate=0.01):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(inputs)
    outputs = keras.layers.Dense(1, name="out")(hidden)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def test_norms_equal_a_direct_gradient_computation(tmp_path):
    model = _tiny_model()
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(8, 1)).astype("float32")
    monitor = GradientNormMonitor((x, y), every=1, csv_path=tmp_path / "g.csv")
    monitor.set_model(model)
    monitor.on_train_begin()
    norms = monitor.compute()
    monitor.on_train_end()

    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    per_var = [float(tf.norm(g)) for g in grads]
    assert set(norms) == {"global", "hidden", "out"}
    np.testing.assert_allclose(norms["global"], np.sqrt(np.sum(np.square(per_var))), rtol=1e-5)
    np.testing.assert_allclose(norms["hidden"], np.hypot(per_var[0], per_var[1]), rtol=1e-5)


def test_logs_every_n_steps_and_warns_once(tmp_path, capsys):
    # A negligible step size: one real step would blow the weights up and saturate tanh,
    # which the monitor would (rightly) also report as vanishing.
    model = _tiny_model(learning_rate=1e-12)
    x = np.ones((4, 3), "float32") * 0.1  # small: tanh must not saturate (that would vanish)
    y = np.ones((4, 1), "float32") * 1e4
    monitor = GradientNormMonitor(
        (x, y),
        every=2,
        csv_path=tmp_path / "g.csv",
        log_dir=tmp_path / "logs",
        explode_threshold=1.0,
        vanish_threshold=1e-30,
    )
    model.fit(x, y, epochs=3, batch_size=1, verbose=0, callbacks=[monitor])  # 12 steps
    with open(tmp_path / "g.csv") as handle:
        rows = list(csv.reader(handle))
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
    monitor = GradientNormMonitor(
        (x, y), every=1, csv_path=tmp_path / "g.csv", vanish_threshold=1e-8
    )
    model.fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=[monitor])
    assert len(monitor.events) == 1 and "vanishing" in monitor.events[0]
    assert "hidden" in monitor.events[0]
