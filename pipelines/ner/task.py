"""NER: many-to-many BiLSTM tagger (word, casing and char features, CRF) over CoNLL files.

The flow is the shared tagging one (``pipelines.tagging.task``); NER adds how its corpora
read, entity tag schemes (trained in ``model.tag_scheme``, output in IOB2), entity-level
metrics and the entities of a ``predict`` record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import keras

from data.conll import ConllFormat, TaggedSentences, read_conll
from data.tag_schemes import convert, scheme_tags, spans, to_iob2_tag
from data.tagged_corpus import CorpusFormat
from pipelines.ner.config import NERConfig, NERInfo
from pipelines.ner.metrics import EntityF1, entity_metrics
from pipelines.ner.serving import entity_record
from pipelines.spine.task import Benchmark
from pipelines.tagging.metrics import TagLists
from pipelines.tagging.task import TaggingTask, TagSet

# The bundled sample (WNUT-17) has its own layout, whatever the config says about files.
SAMPLE_FILES = {
    "train": "ner/train.conll.gz",
    "validation": "ner/dev.conll.gz",
    "test": "ner/test.conll.gz",
}
SAMPLE_FORMAT = ConllFormat(separator="tab", token_column=0, tag_column=1, scheme="iob2")


class NERTask(TaggingTask[NERConfig, NERInfo]):
    """Entities in IOB2: CoNLL sentences → word, casing and char ids → ``SequenceTagger``."""

    name = "ner"
    benchmark = Benchmark(
        dataset="CoNLL-2003 English NER (Tjong Kim Sang & De Meulder 2003), DATA_ROOT/conll2003; "
        "14,041 train / 3,250 dev (checkpoint by entity F1) / 3,453 test sentences; "
        "entity-level micro F1 (seqeval, conlleval rules), no pretrained embeddings",
        metric="f1",
        goal=0.88,
        higher_is_better=True,
    )
    extra_benchmarks = (
        Benchmark(
            dataset="WNUT-17 Emerging and Rare Entities (Derczynski et al. 2017; CC BY 4.0), "
            "DATA_ROOT/wnut17; 3,394 train / 1,009 dev (checkpoint by entity F1) / 1,287 test "
            "sentences of social media text; entity-level micro F1 (seqeval), no pretrained "
            "embeddings",
            metric="f1",
            goal=0.35,
            higher_is_better=True,
            name="ner-wnut17",
            config="configs/ner_wnut17.yaml",
        ),
    )

    def corpus_format(self, cfg: NERConfig) -> CorpusFormat:
        return CorpusFormat(
            sample_files=SAMPLE_FILES,
            read_sample=partial(read_conll, fmt=SAMPLE_FORMAT),
            read_file=partial(read_conll, fmt=cfg.data.conll_format()),
            tfds_tags="ner",
            from_tfds=partial(convert, scheme="iob2"),
        )

    def tag_set(self, cfg: NERConfig, train: TaggedSentences) -> TagSet:
        types = sorted({span.type for tags in train.tags for span in spans(tags)})
        tags = scheme_tags(types, cfg.model.tag_scheme)
        return TagSet(
            tags,
            output_tags=[to_iob2_tag(t) for t in tags],
            info_fields={"entity_types": types},
            note=f"({cfg.model.tag_scheme}) for types {', '.join(types)}",
        )

    def training_tags(self, cfg: NERConfig, tags: Sequence[str]) -> Sequence[str]:
        return convert(tags, cfg.model.tag_scheme)

    def metrics(self, info: NERInfo, gold: TagLists, predicted: TagLists) -> dict[str, Any]:
        metrics = entity_metrics(gold, predicted)
        unseen = sorted(set(metrics["per_type"]) - set(info.entity_types))
        return {**metrics, "types_not_in_train": unseen}

    def validation_callback(
        self, info: NERInfo, predict: Callable[[keras.Model], TagLists], gold: TagLists
    ) -> keras.callbacks.Callback:
        return EntityF1(predict, gold)

    def predict_record(self, text: str, tokens: list[str], tags: list[str]) -> dict[str, Any]:
        return entity_record(text, tokens, tags)
