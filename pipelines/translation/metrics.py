"""Corpus BLEU and chrF with sacreBLEU, on detokenised text against untouched references."""

from __future__ import annotations

from sacrebleu.metrics import BLEU, CHRF


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
