"""The many-to-one classifier: output shape, padding invariance and .keras round trips."""

import keras
import numpy as np
import pytest

from models.rnn_classifier import RNNClassifier

IDS = np.array([[5, 9, 3, 7, 0, 0], [4, 2, 0, 0, 0, 0]], "int32")


@pytest.mark.parametrize("bigram_buckets", [0, 16])
def test_round_trip_and_padding(tmp_path, bigram_buckets):
    keras.utils.set_random_seed(0)
    model = RNNClassifier(
        vocabulary_size=12,
        embedding_dim=4,
        units=4,
        pooling="mean_max",
        bigram_buckets=bigram_buckets,
        bigram_dim=3,
    )
    out = keras.ops.convert_to_numpy(model(IDS))
    assert out.shape == (2, 1) and np.all((out > 0) & (out < 1))
    # Extra padding changes nothing: the RNN, the pooling and the bag are all mask-aware.
    more = np.pad(IDS, ((0, 0), (0, 3)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(more)), out, atol=1e-6)
    assert (model.get_layer("bigram_bag") is not None) if bigram_buckets else True
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(IDS)), out, atol=1e-6)
    assert loaded.get_config()["bigram_buckets"] == bigram_buckets


def test_bag_head_and_rnn_head_are_averaged_in_logit_space():
    keras.utils.set_random_seed(1)
    model = RNNClassifier(
        vocabulary_size=12, embedding_dim=4, units=4, bigram_buckets=16, bigram_dim=3
    )
    output, rnn, bag = (keras.ops.convert_to_numpy(t) for t in model.with_head_logits()(IDS))
    expected = 1.0 / (1.0 + np.exp(-(rnn + bag) / 2))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(IDS)), expected, rtol=1e-5)
    np.testing.assert_allclose(output, expected, rtol=1e-5)


def test_head_logits_need_the_bag():
    model = RNNClassifier(vocabulary_size=12, embedding_dim=4, units=4)
    with pytest.raises(ValueError, match="no bag"):
        model.with_head_logits()
