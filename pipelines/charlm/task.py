"""Character language model (char-rnn): next-character prediction with truncated BPTT,
sampling, and a SavedModel that generates text inside the graph.

Two training modes (``data.mode``):

- ``stateful`` (truncated BPTT): the text is cut into ``train.batch_size`` lanes; batch k holds
  the k-th window of every lane and the recurrent state is carried from batch to batch (the
  model is built stateful with a fixed batch size), reset at every epoch and pass over the
  lanes (:class:`LaneStateKeeper`). Gradients stop at window boundaries; the state does not.
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
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
import tensorflow as tf

from data.char_text import (
    CharVocabulary,
    evaluation_lanes,
    evaluation_windows,
    lane_windows,
    random_windows,
    split_text,
)
from data.sources import resolve_data_path, sample_path, tfds_load
from data.text_files import read_text
from models.char_lm import CharLanguageModel
from pipelines.spine.config import ConfigError, param
from pipelines.spine.sections import RNNConfig, TrainConfig
from pipelines.spine.task import Prepared, Task


@dataclass(frozen=True)
class CharLMData:
    """Where the text comes from and how it is cut into training windows."""

    source: Literal["sample", "files", "tfds"] = param("sample")
    tfds_name: str = param("tiny_shakespeare", doc="one text per split (train/validation/test)")
    tfds_data_dir: str | None = param(None, doc="TFDS data dir; null = TFDS default")
    path: str = param(
        "tinyshakespeare/input.txt",
        doc="files: one UTF-8 text under DATA_ROOT or absolute, split 90/5/5 by characters",
    )
    mode: Literal["stateful", "windows"] = param(
        "stateful",
        doc="stateful: consecutive windows per lane, state carried (truncated BPTT); "
        "windows: random windows, each from a zero state",
    )
    window: int = param(100, min=2, doc="characters per training window (the BPTT length)")
    random_offset: bool = param(True, doc="stateful: lanes start at a random offset each epoch")
    max_train_chars: int | None = param(None, min=2, doc="cap on training characters")
    max_eval_chars: int | None = param(None, min=2, doc="cap on validation/test characters")


@dataclass(frozen=True)
class CharLMModel:
    embedding_dim: int = param(64, min=1)
    rnn: RNNConfig = field(default_factory=RNNConfig)  # bidirectional must be false
    output_dropout: float = param(0.0, min=0.0, max=0.95, doc="before the softmax layer")


@dataclass(frozen=True)
class CharLMSampling:
    """The sample printed after every ``every_epochs`` epochs of training."""

    prime: str = param("\n", doc="text the sample continues")
    length: int = param(200, min=0)
    temperature: float = param(0.8, min=0.0, doc="0 = always the most likely character")
    top_k: int = param(0, min=0, doc="sample among the k most likely; 0 = all")
    every_epochs: int = param(1, min=0, doc="0 = no samples while training")


@dataclass(frozen=True)
class CharLMConfig:
    task: Literal["charlm"] = param("charlm")
    seed: int = param(42)
    data: CharLMData = field(default_factory=CharLMData)
    model: CharLMModel = field(default_factory=CharLMModel)
    sampling: CharLMSampling = field(default_factory=CharLMSampling)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class CharLMInfo:
    """Facts learned from the training text."""

    vocabulary: list[str]  # id 0 = "[UNK]", then the training characters in code-point order
    train_characters: int
    validation_characters: int
    unknown_validation_characters: int  # validation characters not seen in train


def load_text(data: CharLMData, split: str) -> str:
    """The ``train``, ``validation`` or ``test`` text of the configured source (capped)."""
    if split not in ("train", "validation", "test"):
        raise ValueError(f"split must be 'train', 'validation' or 'test', got {split!r}")
    if data.source == "tfds":
        ds = tfds_load(data.tfds_name, split, data.tfds_data_dir)
        text = "".join(example["text"].decode("utf-8") for example in ds.as_numpy_iterator())
    else:
        path = sample_path("charlm", "input.txt") if data.source == "sample" else None
        text = split_text(read_text(path or resolve_data_path(data.path)))[split]
    cap = data.max_train_chars if split == "train" else data.max_eval_chars
    return text[:cap] if cap is not None else text


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


class CharLMTask(Task):
    name = "charlm"
    config_class = CharLMConfig
    info_class = CharLMInfo

    def _evaluation_data(self, cfg: CharLMConfig, ids: np.ndarray):
        """(dataset, characters scored) read the way the model was trained to read."""
        if cfg.data.mode == "stateful":
            return evaluation_lanes(ids, cfg.train.batch_size, cfg.data.window)
        return evaluation_windows(ids, cfg.data.window, cfg.train.batch_size)

    def prepare(self, cfg: CharLMConfig) -> Prepared:
        _check(cfg)
        train_text = load_text(cfg.data, "train")
        validation_text = load_text(cfg.data, "validation")
        vocabulary = CharVocabulary.from_text(train_text)
        train_ids = vocabulary.encode(train_text)
        validation_ids = vocabulary.encode(validation_text)
        batch, window = cfg.train.batch_size, cfg.data.window
        if cfg.data.mode == "stateful":
            seed = cfg.seed if cfg.data.random_offset else None
            train_ds, steps = lane_windows(train_ids, batch, window, seed)
            train_windows = steps * batch
        else:
            train_ds, train_windows = random_windows(train_ids, window, batch, cfg.seed)
        validation_ds, _ = self._evaluation_data(cfg, validation_ids)
        info = CharLMInfo(
            vocabulary=vocabulary.as_list(),
            train_characters=len(train_text),
            validation_characters=len(validation_text),
            unknown_validation_characters=int(np.sum(validation_ids == 0)),
        )
        print(
            f"[charlm] {len(train_text):,} train / {len(validation_text):,} validation "
            f"characters, {len(vocabulary)} ids ({info.unknown_validation_characters} "
            f"validation characters unseen in train); "
            + ("consecutive windows per lane" if cfg.data.mode == "stateful" else "random windows")
            + f" of {window}",
            file=sys.stderr,
            flush=True,
        )
        return Prepared(
            train=train_ds,
            validation=validation_ds,
            info=info,
            train_examples=train_windows,
            validation_examples=len(validation_text) // window,
            probe_batch=next(iter(train_ds)),
        )

    def build_model(self, cfg: CharLMConfig, info: CharLMInfo) -> keras.Model:
        _check(cfg)
        m, stateful = cfg.model, cfg.data.mode == "stateful"
        return CharLanguageModel(
            vocabulary_size=len(info.vocabulary),
            embedding_dim=m.embedding_dim,
            cell=m.rnn.cell,
            units=m.rnn.units,
            num_layers=m.rnn.layers,
            dropout=m.rnn.dropout,
            recurrent_dropout=m.rnn.recurrent_dropout,
            residual=m.rnn.residual,
            output_dropout=m.output_dropout,
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

    def callbacks(self, cfg: CharLMConfig, info: CharLMInfo, prepared: Prepared):
        vocabulary = CharVocabulary.from_list(info.vocabulary)
        callbacks: list[keras.callbacks.Callback] = []
        if cfg.data.mode == "stateful":
            batches = prepared.train_examples // cfg.train.batch_size
            callbacks.append(LaneStateKeeper(batches_per_pass=batches))
        s = cfg.sampling
        if s.every_epochs and s.length:
            callbacks.append(
                PrintSample(
                    vocabulary, s.prime, s.length, s.temperature, s.top_k, cfg.seed, s.every_epochs
                )
            )
        return callbacks

    def evaluate(self, model, cfg: CharLMConfig, info: CharLMInfo, split: str):
        vocabulary = CharVocabulary.from_list(info.vocabulary)
        ids = vocabulary.encode(load_text(cfg.data, split))
        ds, characters = self._evaluation_data(cfg, ids)
        model.reset_states()
        nats, correct, unknown = 0.0, 0, 0
        for x, y in ds:
            logits = model.predict_on_batch(x).astype(np.float64)
            log_probs = logits - _logsumexp(logits)
            y = y.numpy()
            nats -= float(np.take_along_axis(log_probs, y[..., None], axis=-1).sum())
            correct += int(np.sum(logits.argmax(-1) == y))
            unknown += int(np.sum(y == 0))
        model.reset_states()
        loss = nats / characters
        return {
            "examples": characters,  # characters scored
            "nats_per_char": loss,
            "bits_per_char": loss / math.log(2.0),
            "perplexity": math.exp(loss),
            "accuracy": correct / characters,
            "unknown_characters": unknown,
            "protocol": "consecutive windows, state carried per lane"
            if cfg.data.mode == "stateful"
            else "non-overlapping windows, each from a zero state",
        }

    def write_reports(
        self, model, cfg: CharLMConfig, info: CharLMInfo, split: str, run_dir: Path
    ) -> list[Path]:
        """``sample.txt``: 1,000 characters from the checkpoint (once, with the test split)."""
        if split != "test":
            return []
        generate = tf.function(
            generation_function(model, CharVocabulary.from_list(info.vocabulary)),
            input_signature=_SAMPLE_SIGNATURE,
        )
        s = cfg.sampling
        out = generate(
            tf.constant([s.prime]),
            tf.constant(1000),
            tf.constant(s.temperature, tf.float32),
            tf.constant(s.top_k),
            tf.constant(cfg.seed, tf.int64),
        )
        path = run_dir / "sample.txt"
        path.write_text(out["text"].numpy()[0].decode("utf-8") + "\n", encoding="utf-8")
        return [path]

    def export(self, model, cfg: CharLMConfig, info: CharLMInfo, path: Path):
        """Endpoints ``generate`` (also ``serving_default``): prime [batch] strings, length and
        temperature scalars → generated and text [batch] strings; ``sample`` adds top_k and seed
        (seed < 0: random)."""
        vocabulary = CharVocabulary.from_list(info.vocabulary)
        generate_fn = generation_function(model, vocabulary)

        @tf.function(input_signature=_GENERATE_SIGNATURE)
        def generate(prime, length, temperature):
            return generate_fn(
                prime, length, temperature, tf.constant(0), tf.constant(-1, tf.int64)
            )

        sample = tf.function(generate_fn, input_signature=_SAMPLE_SIGNATURE)
        example = {
            "prime": tf.constant([cfg.sampling.prime, ""]),
            "length": tf.constant(40),
            "temperature": tf.constant(cfg.sampling.temperature, tf.float32),
        }
        generate(**example)  # traces both endpoints before tracking
        sample(**example, top_k=tf.constant(5), seed=tf.constant(1, tf.int64))
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("generate", generate)  # the first endpoint is serving_default too
        archive.add_endpoint("sample", sample)
        archive.write_out(str(path), verbose=False)
        return example

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--prime",
            help="text to continue (default: one prime per stdin line; a newline "
            "when stdin is a terminal)",
        )
        parser.add_argument("--length", type=int, default=500, help="characters to generate")
        parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
        parser.add_argument("--top-k", type=int, default=0, help="0 = all characters")
        parser.add_argument("--seed", type=int, default=None, help="fixed seed: same text again")
        parser.add_argument(
            "--plain", action="store_true", help="print the text itself instead of JSON lines"
        )

    def predict(
        self, model, cfg: CharLMConfig, info: CharLMInfo, inputs: Iterable[str] | None, args: Any
    ) -> Iterator[dict[str, Any]]:
        generate = tf.function(
            generation_function(model, CharVocabulary.from_list(info.vocabulary)),
            input_signature=_SAMPLE_SIGNATURE,
        )
        length = getattr(args, "length", 500)
        if length < 0:
            raise ValueError(f"--length: must be >= 0, got {length}")
        seed = getattr(args, "seed", None)
        for prime in _primes(inputs, getattr(args, "prime", None)):
            out = generate(
                tf.constant([prime]),
                tf.constant(length),
                tf.constant(getattr(args, "temperature", 0.8), tf.float32),
                tf.constant(getattr(args, "top_k", 0)),
                tf.constant(-1 if seed is None else seed, tf.int64),
            )
            generated = out["generated"].numpy()[0].decode("utf-8")
            if getattr(args, "plain", False):
                print(prime + generated, flush=True)
                continue
            yield {"prime": prime, "generated": generated}


def _primes(inputs: Iterable[str] | None, prime: str | None) -> Iterator[str]:
    if prime is not None:
        yield prime
    elif inputs is not None:
        yield from (line.rstrip("\n") for line in inputs)
    elif sys.stdin.isatty():
        yield ""
    else:
        yield from (line.rstrip("\n") for line in sys.stdin)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=-1, keepdims=True)
    return top + np.log(np.exp(x - top).sum(axis=-1, keepdims=True))


# ----------------------------------------------------------------------------------------
# Generation inside the graph (TensorFlow): used by export, predict and the sample callback.

_GENERATE_SIGNATURE = [
    tf.TensorSpec([None], tf.string, name="prime"),
    tf.TensorSpec([], tf.int32, name="length"),
    tf.TensorSpec([], tf.float32, name="temperature"),
]
_SAMPLE_SIGNATURE = [
    *_GENERATE_SIGNATURE,
    tf.TensorSpec([], tf.int32, name="top_k"),
    tf.TensorSpec([], tf.int64, name="seed"),
]


def generation_function(model: CharLanguageModel, vocabulary: CharVocabulary):
    """``generate(prime, length, temperature, top_k, seed) -> {"generated", "text"}``.

    Each prime (a [batch] string tensor) is read one character at a time through
    ``model.step`` with an explicit state, then ``length`` characters are sampled and fed back,
    all inside one ``tf.while_loop``. An empty prime starts from a newline. The unknown id is
    never sampled; ``temperature`` <= 0 picks the most likely character; ``top_k`` > 0 samples
    among the k most likely; ``seed`` >= 0 makes the result repeatable, < 0 draws a seed.
    """
    code_points = tf.constant(vocabulary.code_points, tf.int32)
    output_points = tf.constant(np.concatenate([[0xFFFD], vocabulary.code_points]), tf.int32)
    newline = int(vocabulary.encode("\n")[0])
    size = len(vocabulary)
    never_unknown = tf.constant([-np.inf] + [0.0] * (size - 1), tf.float32)

    def to_ids(text):
        points = tf.strings.unicode_decode(text, "UTF-8", errors="replace")
        flat = points.flat_values
        index = tf.minimum(tf.searchsorted(code_points, flat), size - 2)
        known = tf.gather(code_points, index) == flat
        return points.with_flat_values(tf.where(known, index + 1, 0))

    def generate(prime, length, temperature, top_k, seed):
        ids = to_ids(prime)
        batch = tf.shape(prime)[0]
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        width = tf.maximum(tf.reduce_max(tf.concat([lengths, [1]], 0)), 1)
        primes = ids.to_tensor(default_value=newline, shape=[None, None])
        primes = tf.pad(primes, [[0, 0], [0, width - tf.shape(primes)[1]]], constant_values=newline)
        lengths = tf.maximum(lengths, 1)  # empty primes read the newline in column 0
        length = tf.maximum(length, 0)
        steps = width - 1 + length
        base_seed = tf.where(seed >= 0, seed, tf.random.uniform([], 0, 2**31 - 1, dtype=tf.int64))
        k = tf.where(top_k > 0, tf.minimum(top_k, size), size)
        scale = tf.maximum(temperature, 1e-6)

        def body(t, current, states, samples):
            logits, states = model.step(current, states)
            logits = tf.cast(logits, tf.float32) / scale + never_unknown
            kth = tf.math.top_k(logits, k).values[:, -1:]
            logits = tf.where(logits < kth, -np.inf, logits)
            drawn = tf.random.stateless_categorical(
                logits, 1, seed=tf.stack([base_seed, tf.cast(t, tf.int64)]), dtype=tf.int32
            )[:, 0]
            chosen = tf.where(temperature > 0, drawn, tf.argmax(logits, -1, tf.int32))
            next_prime = primes[:, tf.minimum(t + 1, width - 1)]
            current = tf.where(t + 1 < lengths, next_prime, chosen)
            return t + 1, current, states, samples.write(t, chosen)

        samples = tf.TensorArray(tf.int32, size=steps, element_shape=[None])
        _, _, _, samples = tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (tf.constant(0), primes[:, 0], model.initial_states(batch), samples),
        )
        # Row i's sample made at step t predicts character t + 1: its own text starts
        # after its prime, at step lengths[i] - 1.
        drawn = tf.transpose(tf.reshape(samples.stack(), [steps, batch]))
        positions = lengths[:, None] - 1 + tf.range(length)[None, :]
        generated_ids = tf.gather(drawn, positions, batch_dims=1)
        generated = tf.strings.unicode_encode(tf.gather(output_points, generated_ids), "UTF-8")
        return {"generated": generated, "text": tf.strings.join([prime, generated])}

    return generate


# ----------------------------------------------------------------------------------------
# Callbacks


class LaneStateKeeper(keras.callbacks.Callback):
    """Truncated-BPTT bookkeeping for a stateful model in ``fit``.

    The carried state is zeroed when an epoch begins, when a pass over the lanes starts again
    (``train.steps_per_epoch`` can cut passes), and before validation (the validation lanes
    start from zero; the epoch's training state is not needed after it). Between training
    batches the state is snapshotted and put back, so a callback that runs the model in
    between (the gradient-norm probe) cannot move the lanes' state.
    """

    def __init__(self, batches_per_pass: int):
        super().__init__()
        self.batches_per_pass = batches_per_pass
        self.resets = 0
        self._steps = 0
        self._snapshot: list[np.ndarray] | None = None

    def _state_variables(self):
        return [v for layer in self.model.encoder.rnn_layers for v in layer.states]

    def _reset(self) -> None:
        self.model.reset_states()
        self._snapshot = None
        self.resets += 1

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()

    def on_train_batch_begin(self, batch, logs=None):
        if self._steps and self._steps % self.batches_per_pass == 0:
            self._reset()
        elif self._snapshot is not None:
            for variable, value in zip(self._state_variables(), self._snapshot, strict=True):
                variable.assign(value)

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        self._snapshot = [v.numpy() for v in self._state_variables()]

    def on_test_begin(self, logs=None):
        self._reset()


class PrintSample(keras.callbacks.Callback):
    """Prints a short generated sample after every ``every`` epochs (fixed seed, so samples
    of different epochs differ only by what the model learned)."""

    def __init__(
        self,
        vocabulary: CharVocabulary,
        prime: str,
        length: int,
        temperature: float,
        top_k: int,
        seed: int,
        every: int = 1,
    ):
        super().__init__()
        self.vocabulary = vocabulary
        self.args = (
            tf.constant([prime]),
            tf.constant(length),
            tf.constant(temperature, tf.float32),
            tf.constant(top_k),
            tf.constant(seed, tf.int64),
        )
        self.prime = prime
        self.every = every
        self.samples: list[str] = []

    def on_train_begin(self, logs=None):
        self._generate = tf.function(
            generation_function(self.model, self.vocabulary), input_signature=_SAMPLE_SIGNATURE
        )

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        text = self.prime + self._generate(*self.args)["generated"].numpy()[0].decode("utf-8")
        self.samples.append(text)
        print(f"[charlm] sample after epoch {epoch + 1}:\n{text}\n", file=sys.stderr, flush=True)
