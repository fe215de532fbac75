"""Text → ids: standardisation, truncation, padding, bucketing."""

import numpy as np
import pytest
import tensorflow as tf

from data.text_vectorizer import (
    encode_texts,
    make_vectorizer,
    pad_batch,
    standardize_split_punctuation,
    standardize_strip_punctuation,
    text_classification_batches,
    texts_to_ids,
)


def test_standardizers_drop_markup():
    text = tf.constant(["Great film!<br /><br />Don't MISS it, really."])
    split = standardize_split_punctuation(text).numpy()[0].decode().split()
    assert split == ["great", "film", "!", "don't", "miss", "it", ",", "really", "."]
    strip = standardize_strip_punctuation(text).numpy()[0].decode().split()
    assert strip == ["great", "film", "don't", "miss", "it", "really"]


def _vectorizer():
    return make_vectorizer("split_punctuation", 100, ["a", "b", "c", "d", "e"])


def test_vocabulary_round_trip_and_truncation():
    vectorizer = _vectorizer()
    vocabulary = vectorizer.get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"]
    again = make_vectorizer("split_punctuation", 100, vocabulary)
    assert again.get_vocabulary() == vocabulary
    texts = tf.constant(["a b c d e", "zz", ""])
    head = texts_to_ids(texts, vectorizer, 3, "head").to_list()
    tail = texts_to_ids(texts, vectorizer, 3, "tail").to_list()
    assert head == [[2, 3, 4], [1], []]
    assert tail == [[4, 5, 6], [1], []]


def test_pad_batch_keeps_one_step_for_empty_batches():
    empty = texts_to_ids(tf.constant(["", ""]), _vectorizer(), 5, "head")
    assert pad_batch(empty).shape == (2, 1)
    assert pad_batch(empty).numpy().tolist() == [[0], [0]]


def _random_texts(seed: int, count: int, longest: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(list("abcde"), size=n)) for n in rng.integers(0, longest, count)]


@pytest.mark.parametrize("bucket_by_length", [True, False])
def test_batches_keep_every_example_and_label(bucket_by_length):
    texts = _random_texts(0, 50, 60)
    batches = text_classification_batches(
        texts,
        np.arange(50, dtype=np.float32),
        _vectorizer(),
        max_length=40,
        keep="head",
        batch_size=8,
        shuffle_seed=1,
        bucket_by_length=bucket_by_length,
    )
    seen = []
    for ids, y in batches.dataset:
        lengths = (ids.numpy() > 0).sum(axis=1)
        for length, label in zip(lengths, y.numpy(), strict=True):
            assert length == min(40, len(texts[int(label)].split()))
            seen.append(int(label))
        assert ids.shape[1] >= 1 and ids.dtype == tf.int32
    assert sorted(seen) == list(range(50))


@pytest.mark.parametrize("bucket_by_length", [True, False])
def test_batch_count_is_one_real_pass(bucket_by_length):
    texts = _random_texts(3, 200, 90)
    vectorizer = _vectorizer()
    lengths = encode_texts(texts, vectorizer, 64, "head").row_lengths().numpy()
    np.testing.assert_array_equal(lengths, [min(64, len(t.split())) for t in texts])
    batches = text_classification_batches(
        texts,
        np.zeros(200, np.float32),
        vectorizer,
        max_length=64,
        keep="head",
        batch_size=8,
        shuffle_seed=1,
        bucket_by_length=bucket_by_length,
    )
    counted = sum(1 for _ in batches.dataset)
    assert batches.count == counted == batches.dataset.cardinality().numpy()
    if bucket_by_length:
        assert counted > 200 // 8  # a partial batch per bucket
    else:
        assert counted == 200 // 8


def test_encode_texts_same_ids_in_any_chunk_size():
    texts = _random_texts(5, 30, 20)
    vectorizer = _vectorizer()
    whole = texts_to_ids(tf.constant(texts), vectorizer).to_list()
    assert encode_texts(texts, vectorizer, chunk=7).to_list() == whole
    tail = encode_texts(texts, vectorizer, 4, "tail", chunk=7).to_list()
    assert tail == [row[-4:] for row in whole]
    assert encode_texts([], vectorizer).shape == (0,)


def test_batches_refuse_no_texts():
    with pytest.raises(ValueError, match="no texts to encode"):
        text_classification_batches(
            [],
            np.zeros(0, np.float32),
            _vectorizer(),
            max_length=8,
            keep="head",
            batch_size=8,
            shuffle_seed=None,
            bucket_by_length=True,
        )


def test_few_shapes_pads_open_axes_up_to_the_grid():
    """On a backend that compiles per shape (JAX) batches come in grid sizes: the ids keep
    their values and gain only zeros; the labels' fixed axes are left alone."""
    import tensorflow as tf

    from data.bucketing import batch_by_length, grid_size

    rows = [[1] * n for n in (3, 9, 10, 13, 30)]
    ds = tf.data.Dataset.from_generator(
        lambda: ((r, len(r)) for r in rows),
        output_signature=(tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32)),
    )
    batches = batch_by_length(
        ds,
        [len(r) for r in rows],
        batch_size=2,
        length_of=lambda row, y: tf.shape(row)[0],
        padded_shapes=([None], []),
        bucket_by_length=False,
        few_shapes=True,
    )
    widths = []
    for ids, y in batches.dataset:
        widths.append(ids.shape[1])
        assert ids.shape[1] == grid_size(int(tf.reduce_max(y)))
        assert tf.reduce_sum(ids).numpy() == tf.reduce_sum(y).numpy()  # only zeros added
    assert widths == [12, 18, 41] and [grid_size(n) for n in (8, 9, 13)] == [8, 12, 18]
