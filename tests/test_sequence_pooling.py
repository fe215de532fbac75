"""Mask-aware pooling against NumPy, empty sequences, serialisation."""

import keras
import numpy as np
import pytest

from models.sequence_pooling import SequencePooling

X = np.array(
    [[[1.0, -2.0], [3.0, 4.0], [100.0, 100.0]], [[-1.0, -5.0], [-7.0, 2.0], [9.0, 9.0]]],
    dtype="float32",
)
MASK = np.array([[True, True, False], [True, False, False]])


def test_mean_and_max_ignore_padding():
    mean = SequencePooling("mean")(X, mask=MASK)
    np.testing.assert_allclose(mean, [[2.0, 1.0], [-1.0, -5.0]])
    maximum = SequencePooling("max")(X, mask=MASK)
    np.testing.assert_allclose(maximum, [[3.0, 4.0], [-1.0, -5.0]])
    both = SequencePooling("mean_max")(X, mask=MASK)
    np.testing.assert_allclose(both, [[2.0, 1.0, 3.0, 4.0], [-1.0, -5.0, -1.0, -5.0]])


def test_attention_matches_numpy_and_ignores_padding():
    layer = SequencePooling("attention", attention_units=3)
    out = keras.ops.convert_to_numpy(layer(X, mask=MASK))
    w = {v.name: v.numpy() for v in layer.weights}
    for row, length in ((0, 2), (1, 1)):
        h = X[row, :length]
        scores = np.tanh(h @ w["attention_kernel"] + w["attention_bias"]) @ w["attention_vector"]
        weights = np.exp(scores - scores.max())
        weights /= weights.sum()
        np.testing.assert_allclose(out[row], weights @ h, rtol=1e-5)


@pytest.mark.parametrize("mode", ["mean", "max", "mean_max", "attention"])
def test_empty_sequence_pools_to_zeros(mode):
    mask = np.array([[False, False, False], [True, True, True]])
    out = keras.ops.convert_to_numpy(SequencePooling(mode)(X, mask=mask))
    np.testing.assert_array_equal(out[0], 0.0)
    assert np.isfinite(out).all()


def test_no_mask_means_all_steps():
    np.testing.assert_allclose(SequencePooling("mean")(X), X.mean(axis=1), rtol=1e-6)


def test_config_round_trip_and_unknown_mode():
    layer = SequencePooling("attention", attention_units=5)
    assert SequencePooling.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="unknown pooling 'median'"):
        SequencePooling("median")
