"""Translation: recurrent encoder-decoder with attention, greedy and beam-search decoding.

Spanish→English on the Tatoeba/manythings pairs by default; the pair and the direction come
from ``data.source_language`` / ``data.target_language``. Text is Unicode-normalised in
Python when read; tokenisation, decoding and detokenisation run in the TensorFlow graph, so
the exported SavedModel's ``translate`` signature maps source strings to target strings.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import keras

from data.translation_corpus import (
    learn_vocabularies,
    load_split,
    load_splits,
    pairs_origin,
    scan_training,
    streamed_batches,
    training_pairs,
)
from data.translation_pairs import SentencePairs
from data.translation_text import pair_dataset
from models.seq2seq_translator import Seq2SeqTranslator
from models.sequence_crossentropy import SequenceCrossentropy
from pipelines.spine.portable_model import PortableModel
from pipelines.spine.sections import model_settings
from pipelines.spine.task import Benchmark, Evaluation, Prepared, Task, check_split, input_lines
from pipelines.translation.callbacks import validation_bleu
from pipelines.translation.config import TranslationConfig, TranslationInfo
from pipelines.translation.decoding import SplitTranslations, translate_split, write_translations
from pipelines.translation.metrics import split_metrics
from pipelines.translation.plots import plot_attention
from pipelines.translation.serving import export_translator, predict_translations


class TranslationTask(Task[TranslationConfig, TranslationInfo]):
    """Sentence pairs → an attentional encoder-decoder → BLEU with beam search."""

    name = "translation"
    benchmark = Benchmark(
        dataset="Tatoeba/manythings spa-eng (2018-05-13, CC BY 2.0 FR), "
        "DATA_ROOT/spa_eng/spa.txt.gz, Spanish→English; 118,964 pairs split 90/5/5 grouped by "
        "source sentence; cased sacreBLEU (13a) with beam search on the 5% test split",
        metric="bleu",
        goal=50.0,
        higher_is_better=True,
        baselines=("greedy_bleu", "bleu_multi_reference"),
    )

    def prepare(self, cfg: TranslationConfig) -> Prepared[TranslationInfo]:
        """Train and validation pairs as bucketed batches; ``extra`` is the validation
        pairs, for ``val_bleu``. ``data.source: stream`` reads the training pairs from the
        files every epoch instead of holding them (``data.translation_stream``)."""
        data = cfg.data
        origin = pairs_origin(data)
        common = dict(batch_size=cfg.train.batch_size, bucket_by_length=data.bucket_by_length)
        if data.source == "stream":
            scan, vocabularies, validation = scan_training(data, progress=self.say)
            train_batches = streamed_batches(
                data, scan, vocabularies, batch_size=cfg.train.batch_size, shuffle_seed=cfg.seed
            )
            read, train_examples, dropped = scan.pairs["train"], scan.train_examples, scan.dropped
        else:
            train, validation = load_splits(data, ("train", "validation"))
            vocabularies = learn_vocabularies(train, data)
            train_ids, dropped = training_pairs(train, vocabularies, data.max_train_length, origin)
            train_batches = pair_dataset(train_ids, shuffle_seed=cfg.seed, **common)
            read, train_examples = len(train), len(train_ids)
        if dropped:
            self.say(
                f"{origin}: dropped {dropped} of {read} training pairs longer than "
                f"{data.max_train_length} tokens (data.max_train_length)"
            )
        validation_batches = pair_dataset(
            vocabularies.encode(validation), shuffle_seed=None, **common
        )
        info = TranslationInfo(
            source_language=data.source_language,
            target_language=data.target_language,
            source_vocabulary=vocabularies.source,
            target_vocabulary=vocabularies.target,
            train_examples=train_examples,
            validation_examples=len(validation),
            dropped_long_pairs=dropped,
        )
        return Prepared(
            train=train_batches.dataset,
            validation=validation_batches.dataset,
            info=info,
            train_examples=train_examples,
            validation_examples=len(validation),
            train_batches=train_batches.count,
            probe_batch=next(iter(train_batches.dataset)),
            extra=validation,
        )

    def build_model(self, cfg: TranslationConfig, info: TranslationInfo) -> keras.Model:
        return Seq2SeqTranslator(
            source_vocabulary_size=len(info.source_vocabulary),
            target_vocabulary_size=len(info.target_vocabulary),
            **model_settings(cfg.model, exclude=("label_smoothing",)),  # a loss setting
            name="seq2seq_translator",
        )

    def compile_args(self, cfg: TranslationConfig, info: TranslationInfo) -> dict[str, Any]:
        return {
            "loss": SequenceCrossentropy(label_smoothing=cfg.model.label_smoothing),
            "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        }

    def callbacks(
        self,
        cfg: TranslationConfig,
        info: TranslationInfo,
        prepared: Prepared[TranslationInfo],
    ) -> list[keras.callbacks.Callback]:
        validation: SentencePairs = prepared.extra
        return validation_bleu(cfg, info, validation)

    def evaluate(
        self, model: keras.Model, cfg: TranslationConfig, info: TranslationInfo, split: str
    ) -> Evaluation:
        """Beam and greedy BLEU/chrF of the whole split; ``details`` is every translation."""
        check_split(split)
        translations = translate_split(model, cfg, info, load_split(cfg.data, split))
        return Evaluation(split_metrics(translations, cfg.decoding), translations)

    def write_reports(
        self,
        model: keras.Model,
        cfg: TranslationConfig,
        info: TranslationInfo,
        evaluation: Evaluation,
        split: str,
        run_dir: Path,
    ) -> list[Path]:
        """``translations_<split>.jsonl`` (20 pairs: source, reference, greedy, beam) and
        ``attention_<split>.png`` (heatmaps of the beam output for a few of them)."""
        translations: SplitTranslations = evaluation.details
        title = f"attention of the beam-search output over the source ({split} split)"
        return [
            write_translations(run_dir / f"translations_{split}.jsonl", translations),
            plot_attention(run_dir / f"attention_{split}.png", translations.attention, title),
        ]

    def export(
        self, model: keras.Model, cfg: TranslationConfig, info: TranslationInfo, path: Path
    ) -> dict[str, Any]:
        return export_translator(model, cfg, info, path)

    def portable(
        self, model: keras.Model, cfg: TranslationConfig, info: TranslationInfo
    ) -> PortableModel:
        from pipelines.translation.portable import portable_translator

        return portable_translator(model, cfg, info)

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--input", help="file with one source sentence per line (default: stdin)"
        )
        parser.add_argument(
            "--beam-size", type=int, default=None, help="1 = greedy (default: decoding.beam_size)"
        )

    def predict(
        self,
        model: keras.Model,
        cfg: TranslationConfig,
        info: TranslationInfo,
        inputs: Iterable[str],
        args: Any,
    ) -> Iterator[dict[str, Any]]:
        beam_size = getattr(args, "beam_size", None) or cfg.decoding.beam_size
        lines = input_lines(inputs, getattr(args, "input", None))
        yield from predict_translations(model, cfg, info, lines, beam_size)
