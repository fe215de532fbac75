"""Corpus BLEU and chrF with sacreBLEU, on detokenised text against untouched references."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sacrebleu.metrics import BLEU, CHRF

if TYPE_CHECKING:
    from pipelines.translation.config import TranslationDecoding
    from pipelines.translation.decoding import SplitTranslations


def corpus_scores(hypotheses: list[str], references: list[str], prefix: str = "") -> dict:
    """Cased BLEU (13a tokenisation, sacreBLEU's default), lowercased BLEU and chrF (0–100)
    with one reference per hypothesis, plus the cased BLEU signature; keys get ``prefix``."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    cased = BLEU()
    lowercase = BLEU(lowercase=True)
    chrf = CHRF()
    return {
        f"{prefix}bleu": round(cased.corpus_score(hypotheses, [references]).score, 2),
        f"{prefix}bleu_lowercase": round(lowercase.corpus_score(hypotheses, [references]).score, 2),
        f"{prefix}chrf": round(chrf.corpus_score(hypotheses, [references]).score, 2),
        f"{prefix}bleu_signature": str(cased.get_signature()),
    }


def split_metrics(translations: SplitTranslations, decoding: TranslationDecoding) -> dict[str, Any]:
    """``metrics.json`` of a decoded split: beam-search scores, the same for greedy
    (``greedy_*``), decoding speed and mean log-probability of both."""
    references = translations.pairs.references
    beam, greedy = translations.beam, translations.greedy
    greedy_scores = corpus_scores(greedy.translations, references, prefix="greedy_")
    greedy_scores.pop("greedy_bleu_signature")
    return {
        "examples": len(references),
        **corpus_scores(beam.translations, references),
        **greedy_scores,
        "beam_size": decoding.beam_size,
        "length_penalty": decoding.length_penalty,
        "beam_sentences_per_second": beam.sentences_per_second,
        "greedy_sentences_per_second": greedy.sentences_per_second,
        "beam_mean_log_probability": round(float(beam.scores.mean()), 4),
        "greedy_mean_log_probability": round(float(greedy.scores.mean()), 4),
    }
