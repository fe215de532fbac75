"""Text → ids: standardisation, truncation, padding, bucketing."""

import numpy as np
import tensorflow as tf

from data.text_vectorizer import (
    bucketed_batch_count,
    make_vectorizer,
    pad_batch,
    standardize_split_punctuation,
    standardize_strip_punctuation,
    text_classification_dataset,
    texts_to_ids,
    token_counts,
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


def test_bucketed_dataset_keeps_every_example_and_label():
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(list("abcde"), size=n)) for n in rng.integers(0, 60, size=50)]
    labels = np.arange(50, dtype=np.float32)
    ds = text_classification_dataset(
        texts,
        labels,
        _vectorizer(),
        max_length=40,
        keep="head",
        batch_size=8,
        shuffle_seed=1,
        bucket_by_length=True,
    )
    seen = []
    for ids, y in ds:
        lengths = (ids.numpy() > 0).sum(axis=1)
        for length, label in zip(lengths, y.numpy(), strict=True):
            assert length == min(40, len(texts[int(label)].split()))
            seen.append(int(label))
        assert ids.shape[1] >= 1
    assert sorted(seen) == list(range(50))


def test_bucketed_batch_count_matches_the_dataset():
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(list("abcde"), size=n)) for n in rng.integers(0, 90, size=200)]
    vectorizer = _vectorizer()
    counts = token_counts(texts, vectorizer)
    np.testing.assert_array_equal(counts, [len(t.split()) for t in texts])
    ds = text_classification_dataset(
        texts,
        np.zeros(200, np.float32),
        vectorizer,
        max_length=64,
        keep="head",
        batch_size=8,
        shuffle_seed=1,
        bucket_by_length=True,
    )
    batches = sum(1 for _ in ds)
    assert batches > 200 // 8  # partial batch per bucket
    assert bucketed_batch_count(counts, max_length=64, batch_size=8) == batches
