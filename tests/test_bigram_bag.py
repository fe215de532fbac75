"""The bigram bag: pair ids by hand, mean over real words and pairs only, padding invariance."""

import keras
import numpy as np
import pytest

from models.bigram_bag import BigramBag


def _layer(vocabulary_size=10, buckets=7, dim=3):
    layer = BigramBag(vocabulary_size, buckets, dim)
    layer.build((None, None))
    return layer


def test_bigram_ids_by_hand():
    layer = _layer()
    ids = keras.ops.convert_to_numpy(layer.bigram_ids(np.array([[2, 5, 9, 0]], "int32")))
    # 10 + (a * 10 + b) mod 7 for (2,5), (5,9), (9,0)
    np.testing.assert_array_equal(ids, [[10 + 25 % 7, 10 + 59 % 7, 10 + 90 % 7]])


def test_mean_of_words_and_pairs_ignores_padding():
    layer = _layer()
    table = keras.ops.convert_to_numpy(layer.embedding.embeddings)
    out = keras.ops.convert_to_numpy(layer(np.array([[2, 5, 9, 0, 0]], "int32")))
    rows = [2, 5, 9, 10 + 25 % 7, 10 + 59 % 7]
    np.testing.assert_allclose(out[0], table[rows].mean(axis=0), rtol=1e-5)


def test_repeated_words_and_pairs_count_once():
    layer = _layer()
    table = keras.ops.convert_to_numpy(layer.embedding.embeddings)
    # "2 5 2 5 2": words {2, 5}; pairs (2,5) twice and (5,2) twice, each kept once.
    out = keras.ops.convert_to_numpy(layer(np.array([[2, 5, 2, 5, 2, 0]], "int32")))
    rows = [2, 5, 10 + 25 % 7, 10 + 52 % 7]
    np.testing.assert_allclose(out[0], table[rows].mean(axis=0), rtol=1e-5)


def test_lr_multiplier_scales_the_mean_and_shrinks_the_initial_table():
    layer = BigramBag(10, 7, 3, lr_multiplier=4.0)
    layer.build((None, None))
    table = keras.ops.convert_to_numpy(layer.embedding.embeddings)
    assert np.abs(table).max() <= 0.05 / 4.0
    out = keras.ops.convert_to_numpy(layer(np.array([[2, 5]], "int32")))
    rows = [2, 5, 10 + 25 % 7]
    np.testing.assert_allclose(out[0], 4.0 * table[rows].mean(axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="lr_multiplier must be > 0"):
        BigramBag(10, 7, 3, lr_multiplier=0.0)


def test_padding_does_not_change_output():
    layer = _layer(vocabulary_size=50, buckets=31, dim=4)
    short = np.array([[3, 4, 7]], "int32")
    padded = np.array([[3, 4, 7, 0, 0, 0], [8, 0, 0, 0, 0, 0]], "int32")
    a = keras.ops.convert_to_numpy(layer(short))
    b = keras.ops.convert_to_numpy(layer(padded))
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5)
    table = keras.ops.convert_to_numpy(layer.embedding.embeddings)
    np.testing.assert_allclose(b[1], table[8], rtol=1e-5)  # one word, no pairs


def test_empty_text_gives_zeros():
    out = keras.ops.convert_to_numpy(_layer()(np.zeros((2, 4), "int32")))
    np.testing.assert_array_equal(out, 0.0)


def test_config_round_trip_and_limits():
    layer = BigramBag(100, 64, 8, name="bag")
    clone = BigramBag.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="vocabulary_size must be in"):
        BigramBag(50000, 64, 8)
    with pytest.raises(ValueError, match="buckets must be"):
        BigramBag(100, 0, 8)
