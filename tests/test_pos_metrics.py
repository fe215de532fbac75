"""POS tagging metrics against hand-computed values."""

import pytest

from pipelines.pos.metrics import tag_accuracy

GOLD = [["DET", "NOUN", "VERB"], ["PRON", "VERB", "NOUN", "PUNCT"], ["INTJ"]]
PRED = [["DET", "NOUN", "VERB"], ["PRON", "NOUN", "NOUN", "PUNCT"], ["NOUN"]]


def test_hand_computed_accuracies():
    got = tag_accuracy(GOLD, PRED)
    # 8 tokens, 6 right: sentence 2 misses VERB, sentence 3 misses INTJ; 1 of 3 sentences whole.
    assert got["tokens"] == 8
    assert got["accuracy"] == pytest.approx(6 / 8)
    assert got["sentence_accuracy"] == pytest.approx(1 / 3)
    assert got["per_tag"] == {
        "DET": {"accuracy": 1.0, "support": 1},
        "INTJ": {"accuracy": 0.0, "support": 1},
        "NOUN": {"accuracy": 1.0, "support": 2},  # recall: the extra predicted NOUNs do not count
        "PRON": {"accuracy": 1.0, "support": 1},
        "PUNCT": {"accuracy": 1.0, "support": 1},
        "VERB": {"accuracy": pytest.approx(0.5), "support": 2},
    }
    assert list(got["per_tag"]) == sorted(got["per_tag"])
    assert "ADJ" not in got["per_tag"]  # only gold tags have rows


def test_perfect_and_empty():
    perfect = tag_accuracy(GOLD, GOLD)
    assert perfect["accuracy"] == perfect["sentence_accuracy"] == 1.0
    assert all(row["accuracy"] == 1.0 for row in perfect["per_tag"].values())
    empty = tag_accuracy([], [])
    assert empty == {"accuracy": 0.0, "sentence_accuracy": 0.0, "tokens": 0, "per_tag": {}}


def test_accepts_tuples_and_any_sequences():
    assert tag_accuracy((("A", "B"),), [["A", "C"]])["accuracy"] == 0.5


def test_length_mismatches_name_the_sentence():
    with pytest.raises(ValueError, match=r"^sentence 1: 4 gold tags but 3 predicted ones$"):
        tag_accuracy(GOLD, [PRED[0], PRED[1][:3], PRED[2]])
    with pytest.raises(ValueError, match=r"^3 gold sentences but 2 predicted ones$"):
        tag_accuracy(GOLD, PRED[:2])
