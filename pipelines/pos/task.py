"""POS: part-of-speech tagging (UPOS) with the shared BiLSTM tagger over CoNLL-U files.

The flow is the shared tagging one (``pipelines.tagging.task``); POS adds how CoNLL-U reads
(integer-ID words only), its tag set (the training tags), per-tag accuracy and the
``word/TAG`` form of a ``predict`` record.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from data.conll import TaggedSentences
from data.conllu import read_conllu
from data.tagged_corpus import CorpusFormat
from pipelines.pos.config import POSConfig, POSInfo
from pipelines.pos.metrics import tag_accuracy
from pipelines.pos.serving import pos_record
from pipelines.spine.task import Benchmark
from pipelines.tagging.metrics import TagLists
from pipelines.tagging.task import TaggingTask, TagSet

SAMPLE_FILES = {
    "train": "pos/train.conllu.gz",
    "validation": "pos/dev.conllu.gz",
    "test": "pos/test.conllu.gz",
}


def ud_words(example: dict, tag_names: list[str]) -> list[bool]:
    """The syntactic words of a TFDS ``universal_dependencies`` example: it also holds
    multiword tokens (tag ``_``) and empty nodes (head ``None``), which CoNLL-U skips."""
    return [
        tag_names[tag] != "_" and head != b"None"
        for tag, head in zip(example["upos"], example["head"], strict=True)
    ]


class POSTask(TaggingTask[POSConfig, POSInfo]):
    """Universal POS tags: CoNLL-U sentences → word, casing and char ids → ``SequenceTagger``."""

    name = "pos"
    benchmark = Benchmark(
        dataset="UD English-EWT v2.16 (Silveira et al. 2014; CC BY-SA 4.0), "
        "DATA_ROOT/ud_english_ewt; 12,544 train / 2,001 dev (checkpoint by token accuracy) / "
        "2,077 test sentences; UPOS token accuracy, gold tokenisation, no pretrained embeddings",
        metric="accuracy",
        goal=0.95,
        higher_is_better=True,
    )
    example_sentences = ("The old man the boat .", "")
    example_tokens = (("I", "saw", "her", "duck"), ("Time", "flies", "", ""))

    def corpus_format(self, cfg: POSConfig) -> CorpusFormat:
        read = partial(read_conllu, column=cfg.data.tag_column)
        return CorpusFormat(
            sample_files=SAMPLE_FILES,
            read_sample=read,
            read_file=read,
            tfds_tags=cfg.data.tag_column,
            tfds_keep=ud_words,
        )

    def tag_set(self, cfg: POSConfig, train: TaggedSentences) -> TagSet:
        return TagSet(sorted({tag for tags in train.tags for tag in tags}))

    def metrics(self, info: POSInfo, gold: TagLists, predicted: TagLists) -> dict[str, Any]:
        metrics = tag_accuracy(gold, predicted)
        metrics["tags_not_in_train"] = sorted(set(metrics["per_tag"]) - set(info.tags))
        return metrics

    def predict_record(self, text: str, tokens: list[str], tags: list[str]) -> dict[str, Any]:
        return pos_record(text, tokens, tags)
