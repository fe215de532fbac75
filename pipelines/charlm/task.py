"""Character language model (char-rnn): next-character prediction with truncated BPTT,
sampling, and a SavedModel that generates text inside the graph.

Two training modes (``data.mode``):

- ``stateful`` (truncated BPTT): the text is cut into ``train.batch_size`` lanes; batch k holds
  the k-th window of every lane and the recurrent state is carried from batch to batch (the
  model is built stateful with a fixed batch size), reset at every epoch and pass over the
  lanes (:class:`~pipelines.charlm.callbacks.LaneStateKeeper`). Gradients stop at window
  boundaries; the state does not.
- ``windows``: random windows, each read from a zero state (teacher forcing only).

Validation of a stateful model inside ``fit`` runs on the training model itself: the validation
text is cut into the same number of lanes and read as consecutive windows, the state zeroed when
validation begins (the epoch is over, and the next one starts from zero anyway). No stateless
copy is needed, Keras' own ``val_loss`` drives checkpointing, early stopping and the EMA swap
(which wraps validation, so the averaged weights are what is scored), and ``evaluate`` reads
validation and test the same way, so its validation number equals the best ``val_loss``. The
cost: each lane's first characters are read without context (one lane per 871 characters of
Tiny Shakespeare's validation split at batch 64).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from data.char_corpus import (
    PROTOCOLS,
    evaluation_batches,
    read_split,
    read_splits,
    stream_evaluation,
    stream_index,
    stream_training,
    training_batches,
)
from data.char_text import CharVocabulary
from models.char_lm import CharLanguageModel
from pipelines.charlm import serving
from pipelines.charlm.callbacks import LaneStateKeeper, PrintSample
from pipelines.charlm.config import CharLMConfig, CharLMInfo
from pipelines.charlm.metrics import next_character_metrics
from pipelines.spine.atomic import write_text
from pipelines.spine.config import ConfigError
from pipelines.spine.portable_model import PortableModel
from pipelines.spine.task import Benchmark, Evaluation, Prepared, Task, check_split


def _check(cfg: CharLMConfig) -> None:
    if cfg.model.rnn.bidirectional:
        raise ConfigError(
            "model.rnn.bidirectional: a language model reads left to right; set it to false"
        )
    if cfg.data.mode == "stateful" and cfg.train.strategy != "default":
        raise ConfigError(
            "train.strategy: mirrored splits each batch across replicas, which breaks the "
            "lanes of data.mode stateful; use data.mode windows"
        )


def _vocabulary(info: CharLMInfo) -> CharVocabulary:
    return CharVocabulary.from_list(info.vocabulary)


class CharLMTask(Task[CharLMConfig, CharLMInfo]):
    name = "charlm"
    benchmark = Benchmark(
        dataset="Tiny Shakespeare (karpathy/char-rnn), DATA_ROOT/tinyshakespeare/input.txt; "
        "90/5/5 split by characters as TFDS tiny_shakespeare (1,003,854 / 55,770 / 55,770)",
        metric="nats_per_char",
        goal=1.45,
        higher_is_better=False,
    )
    # nanoGPT's shakespeare_char protocol: first 90% train, last 10% validation. It has no test
    # split, so "test" is that same last 10%, which also picks the checkpoint (as in nanoGPT,
    # whose 1.47 is its best validation loss).
    extra_benchmarks = (
        Benchmark(
            dataset="Tiny Shakespeare (karpathy/char-rnn), DATA_ROOT/tinyshakespeare/input.txt; "
            "nanoGPT shakespeare_char split: first 90% train, last 10% validation (= test; "
            "1,003,854 / 111,540 characters)",
            metric="nats_per_char",
            goal=1.45,
            higher_is_better=False,
            name="charlm-nanogpt",
            config="configs/charlm.yaml",
            overrides=("data.source=files", "data.split=nanogpt"),
        ),
    )

    def prepare(self, cfg: CharLMConfig) -> Prepared[CharLMInfo]:
        _check(cfg)
        if cfg.data.source == "stream":
            return self._prepare_stream(cfg)
        train_text, validation_text = read_splits(cfg.data, ("train", "validation"))
        vocabulary = CharVocabulary.from_text(train_text)
        validation_ids = vocabulary.encode(validation_text)
        batch = cfg.train.batch_size
        train = training_batches(cfg.data, vocabulary.encode(train_text), batch, cfg.seed)
        validation = evaluation_batches(cfg.data, validation_ids, batch)
        info = CharLMInfo(
            vocabulary=vocabulary.as_list(),
            train_characters=len(train_text),
            validation_characters=len(validation_text),
            unknown_validation_characters=int(np.sum(validation_ids == 0)),
        )
        self.say(
            f"{len(train_text):,} train / {len(validation_text):,} validation "
            f"characters, {len(vocabulary)} ids ({info.unknown_validation_characters} "
            f"validation characters unseen in train); "
            + ("consecutive windows per lane" if cfg.data.mode == "stateful" else "random windows")
            + f" of {cfg.data.window}"
        )
        return Prepared(
            train=train.dataset,
            validation=validation.dataset,
            info=info,
            train_examples=train.windows,
            validation_examples=len(validation_text) // cfg.data.window,
            train_batches=train.count,
            probe_batch=next(iter(train.dataset)),
        )

    def _prepare_stream(self, cfg: CharLMConfig) -> Prepared[CharLMInfo]:
        """:meth:`prepare` for ``data.source: stream``: one pass over the files for the
        vocabulary and counts, then batches read from the files; under data_parallel each
        process reads only its rows (its lanes, or its part of the text for random windows)."""
        from pipelines.spine.data_parallel import process_share

        share = process_share(cfg.train.distribution)
        self.say(f"stream: indexing {cfg.data.path} (one pass over every file)")
        index = stream_index(cfg.data, self.say)
        vocabulary = CharVocabulary(tuple(sorted(index.train_characters)))
        batch = cfg.train.batch_size
        train = stream_training(cfg.data, index, vocabulary, batch, cfg.seed, share)
        validation = stream_evaluation(cfg.data, index, vocabulary, "validation", batch, share)
        known = set(vocabulary.characters)
        info = CharLMInfo(
            vocabulary=vocabulary.as_list(),
            train_characters=index.characters("train", cfg.data.max_train_chars),
            validation_characters=index.characters("validation", cfg.data.max_eval_chars),
            unknown_validation_characters=sum(
                n for c, n in index.validation_counts.items() if c not in known
            ),
        )
        files = len(index.parts["train"])
        self.say(
            f"{info.train_characters:,} train / {info.validation_characters:,} validation "
            f"characters in {files} file(s), {len(vocabulary)} ids "
            f"({info.unknown_validation_characters} validation characters unseen in train)"
            + (f"; process {share[0]} of {share[1]} reads its own rows" if share[1] > 1 else "")
        )
        probe = next(iter(train.dataset))
        if share[1] > 1:  # the model is built for the global batch: only its shape matters
            probe = tuple(np.concatenate([t.numpy()] * share[1]) for t in probe)
        return Prepared(
            train=train.dataset,
            validation=validation.dataset,
            info=info,
            train_examples=train.windows,
            validation_examples=info.validation_characters // cfg.data.window,
            train_batches=train.count,
            probe_batch=probe,
            per_process=True,
        )

    def build_model(self, cfg: CharLMConfig, info: CharLMInfo) -> keras.Model:
        _check(cfg)
        stateful = cfg.data.mode == "stateful"
        return CharLanguageModel(
            vocabulary_size=len(info.vocabulary),
            embedding_dim=cfg.model.embedding_dim,
            rnn=cfg.model.rnn.stack(),
            output_dropout=cfg.model.output_dropout,
            stateful=stateful,
            batch_size=cfg.train.batch_size if stateful else None,
            name="char_language_model",
        )

    def compile_args(self, cfg: CharLMConfig, info: CharLMInfo) -> dict[str, Any]:
        # The loss is the mean over every predicted character: nats per character.
        return {
            "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        }

    def callbacks(
        self, cfg: CharLMConfig, info: CharLMInfo, prepared: Prepared[CharLMInfo]
    ) -> list[keras.callbacks.Callback]:
        callbacks: list[keras.callbacks.Callback] = []
        if cfg.data.mode == "stateful":
            callbacks.append(LaneStateKeeper(batches_per_pass=prepared.train_batches))
        s, vocabulary = cfg.sampling, _vocabulary(info)
        if s.every_epochs and s.length:
            callbacks.append(
                PrintSample(
                    vocabulary, s.prime, s.length, s.temperature, s.top_k, cfg.seed, s.every_epochs
                )
            )
        return callbacks

    def evaluate(
        self, model: keras.Model, cfg: CharLMConfig, info: CharLMInfo, split: str
    ) -> Evaluation:
        """Scores ``split`` read as training read text (lanes or non-overlapping windows)."""
        check_split(split)
        if cfg.data.source == "stream":
            index = stream_index(cfg.data, self.say)
            batches = stream_evaluation(
                cfg.data, index, _vocabulary(info), split, cfg.train.batch_size
            )
        else:
            ids = _vocabulary(info).encode(read_split(cfg.data, split))
            batches = evaluation_batches(cfg.data, ids, cfg.train.batch_size)
        metrics = next_character_metrics(model, batches)
        return Evaluation(metrics={**metrics, "protocol": PROTOCOLS[cfg.data.mode]})

    def write_reports(
        self,
        model: keras.Model,
        cfg: CharLMConfig,
        info: CharLMInfo,
        evaluation: Evaluation,
        split: str,
        run_dir: Path,
    ) -> list[Path]:
        """``sample.txt``: 1,000 characters from the checkpoint (once, with the test split);
        generated from ``sampling.prime``, nothing of ``evaluation`` is needed."""
        if split != "test":
            return []
        s = cfg.sampling
        sample = serving.sampler(model, _vocabulary(info))
        path = run_dir / "sample.txt"
        text = s.prime + sample(s.prime, 1000, s.temperature, s.top_k, cfg.seed)
        write_text(path, text + "\n")
        return [path]

    def export(
        self, model: keras.Model, cfg: CharLMConfig, info: CharLMInfo, path: Path
    ) -> dict[str, Any]:
        """Signatures ``generate`` (= ``serving_default``) and ``sample`` (see ``serving``)."""
        s = cfg.sampling
        return serving.export(model, _vocabulary(info), s.prime, s.temperature, path, cfg.serve)

    def portable(self, model: keras.Model, cfg: CharLMConfig, info: CharLMInfo) -> PortableModel:
        from pipelines.charlm.portable import portable_step

        return portable_step(model, info.vocabulary)

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        serving.add_predict_arguments(parser)

    def predict(
        self,
        model: keras.Model,
        cfg: CharLMConfig,
        info: CharLMInfo,
        inputs: Iterable[str] | None,
        args: Any,
    ) -> Iterator[dict[str, Any]]:
        return serving.predict(model, _vocabulary(info), inputs, args, cfg.serve)
