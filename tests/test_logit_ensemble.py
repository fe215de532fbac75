"""The logit ensemble: the mean at inference, one head per example in solo training."""

import keras
import numpy as np
import pytest

from models.logit_ensemble import LogitEnsemble

A = np.array([[1.0], [2.0], [-3.0], [0.5]], "float32")
B = np.array([[-1.0], [4.0], [5.0], [2.5]], "float32")


def _run(layer, training):
    return keras.ops.convert_to_numpy(layer([A, B], training=training))


def test_inference_is_the_mean_of_the_heads():
    out = _run(LogitEnsemble(solo_rate=1.0, seed=0), training=False)
    np.testing.assert_allclose(out, (A + B) / 2)


def test_solo_training_gives_each_example_one_head():
    layer = LogitEnsemble(solo_rate=1.0, seed=3)
    picks = []
    for _ in range(20):
        out = _run(layer, training=True)
        from_a, from_b = np.isclose(out, A), np.isclose(out, B)
        assert np.all(from_a | from_b)  # never the mean, never anything else
        picks.append(from_a)
    picks = np.concatenate(picks)
    assert 0.3 < picks.mean() < 0.7  # both heads are chosen, about equally often


def test_solo_gradient_is_the_heads_own():
    # On a solo example only the chosen head receives gradient, as if it were trained alone.
    import tensorflow as tf

    layer = LogitEnsemble(solo_rate=1.0, seed=5)
    a, b = tf.Variable(A), tf.Variable(B)
    with tf.GradientTape() as tape:
        out = layer([a, b], training=True)
        loss = tf.reduce_sum(out)
    grad_a, grad_b = tape.gradient(loss, [a, b])
    chose_a = np.isclose(out.numpy(), A)
    np.testing.assert_array_equal(grad_a.numpy(), chose_a.astype("float32"))
    np.testing.assert_array_equal(grad_b.numpy(), (~chose_a).astype("float32"))


def test_zero_solo_rate_is_joint_training():
    out = _run(LogitEnsemble(solo_rate=0.0), training=True)
    np.testing.assert_allclose(out, (A + B) / 2)


def test_config_round_trip_and_errors():
    layer = LogitEnsemble(solo_rate=0.25, seed=7, name="ens")
    clone = LogitEnsemble.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="solo_rate must be in"):
        LogitEnsemble(solo_rate=1.5)
    with pytest.raises(ValueError, match="at least 2 heads"):
        LogitEnsemble()([A])
