"""Multi-reference BLEU: every reference of a source counts, one hypothesis per source."""

import pytest
from sacrebleu.metrics import BLEU

from pipelines.translation.metrics import corpus_scores, multi_reference_bleu

SOURCES = ["Tengo hambre.", "Tengo hambre.", "Está lloviendo mucho hoy."]
REFERENCES = ["I'm hungry.", "I am hungry right now.", "It is raining a lot today."]


def test_a_hypothesis_matching_any_reference_of_its_source_scores_full():
    hypotheses = ["I am hungry right now.", "I am hungry right now.", "It is raining a lot today."]
    multi = multi_reference_bleu(SOURCES, hypotheses, REFERENCES)
    assert multi == {"bleu": pytest.approx(100.0), "sources": 2, "max_references": 2}
    assert corpus_scores(hypotheses, REFERENCES)["bleu"] < 100  # one reference each: lower


def test_equals_sacrebleu_with_padded_reference_streams():
    hypotheses = ["I am hungry.", "I am hungry.", "It rains a lot today."]
    expected = BLEU().corpus_score(
        ["I am hungry.", "It rains a lot today."],
        [["I'm hungry.", "It is raining a lot today."], ["I am hungry right now.", None]],
    )
    assert multi_reference_bleu(SOURCES, hypotheses, REFERENCES)["bleu"] == round(expected.score, 2)
    with pytest.raises(ValueError, match="3 sources, 2 hypotheses"):
        multi_reference_bleu(SOURCES, hypotheses[:2], REFERENCES)
