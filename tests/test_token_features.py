"""Token → feature encoding (TensorFlow graph code shared by tf.data and the export)."""

from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from data.bucketing import batch_count
from data.token_features import (
    CASINGS,
    TokenEncoder,
    casing_ids,
    count_vocabulary,
    normalize_words,
    ordered_batches,
    pad_features,
    ragged_rows,
    tag_strings,
    tagging_batches,
)


def test_casing_classes_by_hand():
    tokens = ["1996", "1996-08-22", "a1b", "hello", "don't", "EU", "U.S.", "Peter", "iPhone",
              "A1B2C", ",", "Élan", "ÉLAN", "x2"]  # fmt: skip
    expected = ["numeric", "mainly_numeric", "all_lower", "all_lower", "all_lower", "all_upper",
                "all_upper", "initial_upper", "other", "all_upper", "other", "initial_upper",
                "all_upper", "all_lower"]  # fmt: skip
    got = casing_ids(tf.constant(tokens)).numpy()
    assert [CASINGS[i] for i in got] == expected
    # "contains_digit": digits, but not most of the token, and no case pattern before it.
    assert CASINGS[casing_ids(tf.constant(["-3-a-"])).numpy()[0]] == "all_lower"
    assert CASINGS[casing_ids(tf.constant(["#1...."])).numpy()[0]] == "contains_digit"


def test_normalize_words():
    got = normalize_words(tf.constant(["Peter", "1996-08-22", "ÉLAN"]), True, True).numpy()
    assert [w.decode() for w in got] == ["peter", "0000-00-00", "élan"]
    kept = normalize_words(tf.constant(["Peter7"]), False, False).numpy()
    assert kept[0].decode() == "Peter7"


def test_count_vocabulary_order_and_limits():
    counts = Counter({"the": 5, "b": 2, "a": 2, "rare": 1, "": 9})
    assert count_vocabulary(counts, 1, None) == ["", "[UNK]", "the", "a", "b", "rare"]
    assert count_vocabulary(counts, 2, None) == ["", "[UNK]", "the", "a", "b"]
    assert count_vocabulary(counts, 1, 4) == ["", "[UNK]", "the", "a"]


def test_encoder_ids_padding_and_oov():
    encoder = TokenEncoder.adapt([["Peter", "lives", "in", "Paris"], ["peter", "2"]], max_chars=3)
    assert encoder.words[:3] == ["", "[UNK]", "peter"]  # lower-cased: counted twice
    tokens = ragged_rows([["Peter", "Zorro"], []], tf.string)
    features = encoder.encode_padded(tokens)
    word_ids = features["word_ids"].numpy()
    assert word_ids.shape == (2, 2) and word_ids.dtype == np.int32
    assert word_ids[0, 0] == 2 and word_ids[0, 1] == 1 and np.all(word_ids[1] == 0)
    chars = features["char_ids"].numpy()
    assert chars.shape == (2, 2, 3)  # cut to max_chars
    assert [encoder.chars[i] for i in chars[0, 0]] == ["P", "e", "t"]
    assert chars[0, 1, 0] == 1  # "Z" never seen: OOV
    assert np.all(chars[1] == 0)
    assert features["casing_ids"].numpy().tolist() == [
        [CASINGS.index("initial_upper")] * 2,
        [0, 0],
    ]


def test_pad_features_never_leaves_an_empty_axis():
    empty = ragged_rows([[], []], tf.string)
    encoder = TokenEncoder(["", "[UNK]", "a"], ["", "[UNK]", "a"])
    features = pad_features(encoder.encode(empty))
    assert features["word_ids"].shape == (2, 1) and features["char_ids"].shape == (2, 1, 1)
    assert not np.any(features["char_ids"].numpy())


def test_tagging_batches_hold_features_and_gold_tags():
    sentences = [["a"] * n for n in (1, 7, 3, 12, 2)]
    tags = [list(range(n)) for n in (1, 7, 3, 12, 2)]
    encoder = TokenEncoder.adapt(sentences)
    for bucket in (False, True):
        batches = tagging_batches(
            sentences, tags, encoder, batch_size=2, shuffle_seed=None, bucket_by_length=bucket
        )
        ds = batches.dataset
        seen = []
        for features, y in ds:
            assert set(features) == {"word_ids", "casing_ids", "char_ids", "tags"}
            np.testing.assert_array_equal(features["tags"], y)
            lengths = np.count_nonzero(features["word_ids"].numpy(), axis=1)
            for row, n in zip(y.numpy(), lengths, strict=True):
                assert row[:n].tolist() == list(range(n)) and not row[n:].any()
                seen.append(int(n))
        assert sorted(seen) == [1, 2, 3, 7, 12]
        # The declared epoch length is the real one (a wrong one fails while iterating).
        # Bucketed: lengths 1, 2, 3, 7 share the first bucket (< 8 tokens), 12 has its own.
        assert batches.count == int(ds.cardinality()) == sum(1 for _ in ds) == 3
    with pytest.raises(ValueError, match="min_word_count=3: no training word occurs"):
        TokenEncoder.adapt(sentences[:1], min_word_count=3)
    with pytest.raises(ValueError, match="no sentences"):
        tagging_batches([], [], encoder, batch_size=2, shuffle_seed=None, bucket_by_length=True)


def test_bucketed_batch_count_is_one_pass_over_the_shuffled_data():
    # Each length bucket ends with its own partial batch: more batches than
    # ceil(sentences / batch_size), whatever order the shuffle puts them in.
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=300)
    sentences = [["w"] * n for n in lengths]
    encoder = TokenEncoder.adapt(sentences)
    batches = tagging_batches(
        sentences,
        [[0] * n for n in lengths],
        encoder,
        batch_size=16,
        shuffle_seed=3,
        bucket_by_length=True,
    )
    assert batches.count == batch_count(lengths, 16, bucketed=True) > -(-300 // 16)
    for _ in range(2):  # reshuffled each pass, same count
        assert sum(1 for _ in batches.dataset) == batches.count


def test_ordered_batches_sort_by_length_and_restore_the_order():
    sentences = [["a"] * n for n in (5, 1, 3, 1)]
    encoder = TokenEncoder.adapt(sentences)
    ordered = ordered_batches(sentences, [[1] * len(s) for s in sentences], encoder, batch_size=3)
    assert ordered.order.tolist() == [1, 3, 2, 0]  # stable: equal lengths keep their order
    lengths = [
        n
        for features, _ in ordered.batches.dataset
        for n in np.count_nonzero(features["word_ids"].numpy(), axis=1).tolist()
    ]
    assert lengths == [1, 1, 3, 5] and ordered.batches.count == 2
    assert ordered.restore(lengths) == [5, 1, 3, 1]


def test_tag_strings_cuts_to_lengths():
    ids = np.array([[1, 2, 0], [2, 0, 0]])
    assert tag_strings(ids, np.array([2, 1]), ["O", "B-X", "I-X"]) == [["B-X", "I-X"], ["I-X"]]
