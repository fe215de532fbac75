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


def multi_reference_bleu(sources: list[str], hypotheses: list[str], references: list[str]) -> dict:
    """Cased BLEU with every reference of a source: the pairs grouped by their source
    sentence (the split keeps a source's pairs together), one hypothesis per distinct source
    (the first; decoding is deterministic), scored against all of that source's references
    (sacreBLEU pads the shorter reference lists with None)."""
    if not len(sources) == len(hypotheses) == len(references):
        raise ValueError(
            f"{len(sources)} sources, {len(hypotheses)} hypotheses, {len(references)} references"
        )
    refs_of: dict[str, list[str]] = {}
    hypothesis_of: dict[str, str] = {}
    for source, hypothesis, reference in zip(sources, hypotheses, references, strict=True):
        refs_of.setdefault(source, []).append(reference)
        hypothesis_of.setdefault(source, hypothesis)
    distinct = list(refs_of)
    width = max((len(r) for r in refs_of.values()), default=0)
    streams = [
        [refs_of[s][k] if k < len(refs_of[s]) else None for s in distinct] for k in range(width)
    ]
    score = BLEU().corpus_score([hypothesis_of[s] for s in distinct], streams) if distinct else None
    return {
        "bleu": round(score.score, 2) if score else 0.0,
        "sources": len(distinct),
        "max_references": width,
    }


def split_metrics(translations: SplitTranslations, decoding: TranslationDecoding) -> dict[str, Any]:
    """``metrics.json`` of a decoded split: beam-search scores, the same for greedy
    (``greedy_*``), decoding speed and mean log-probability of both."""
    references = translations.pairs.references
    beam, greedy = translations.beam, translations.greedy
    greedy_scores = corpus_scores(greedy.translations, references, prefix="greedy_")
    greedy_scores.pop("greedy_bleu_signature")
    sources = translations.pairs.sources
    multi = multi_reference_bleu(sources, beam.translations, references)
    greedy_multi = multi_reference_bleu(sources, greedy.translations, references)
    return {
        "examples": len(references),
        **corpus_scores(beam.translations, references),
        **greedy_scores,
        "bleu_multi_reference": multi["bleu"],
        "greedy_bleu_multi_reference": greedy_multi["bleu"],
        "distinct_sources": multi["sources"],
        "max_references_per_source": multi["max_references"],
        "beam_size": decoding.beam_size,
        "length_penalty": decoding.length_penalty,
        "beam_sentences_per_second": beam.sentences_per_second,
        "greedy_sentences_per_second": greedy.sentences_per_second,
        "beam_mean_log_probability": round(float(beam.scores.mean()), 4),
        "greedy_mean_log_probability": round(float(greedy.scores.mean()), 4),
    }
